"""The reliability suite: concurrency, lost connections, cancellation, bad input, large data."""
