"""``toolkit demo``: load the sample data and compare loading strategies."""

from __future__ import annotations

import argparse

from ..database import Database
from .common import reach, show_url

__all__ = ["run_demo"]


async def run_demo(db: Database, args: argparse.Namespace) -> int:
    """Load the sample once, then print the five loading strategies side by side."""
    from ..demo import compare_loading, load_sample, loading_summary

    await reach(db)
    print(f"Database: {show_url(db)}")
    loaded = await load_sample(db)
    if any(loaded.values()):
        counts = ", ".join(f"{table} {count:,}" for table, count in loaded.items() if count)
        print(f"Sample loaded (rows): {counts}.")
    else:
        print("Sample already loaded; reusing it.")
    frame = await compare_loading(db)
    print("\nAll teams with their members' posts, loaded five ways:\n")
    print(frame.round({"seconds": 3}).to_string(index=False))
    print()
    print(loading_summary(frame))
    return 0
