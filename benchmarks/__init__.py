"""Side-by-side benchmarks of the toolkit's DataFrame bridge (``make bench``).

What is measured, on the same table in SQLite (a file in a temporary directory) and in
PostgreSQL (table ``bench_rows`` in database ``test``, dropped afterwards), with N rows
(default 1,000,000) of INTEGER, BIGINT, TEXT, NUMERIC(12,2), DOUBLE PRECISION,
TIMESTAMP WITH TIME ZONE, BOOLEAN and a nullable TEXT (about 30% NULL):

read (:mod:`benchmarks.read`)
    The whole table into a DataFrame: ``tk.read_frame`` (on ``select(BenchRow)`` and on
    its explicit columns), ``tk.stream_frames`` in 50,000-row chunks concatenated,
    ``pandas.read_sql``, the raw driver (asyncpg ``fetch`` / sqlite3 ``fetchall`` into
    ``pd.DataFrame``: the *driver limit* the tables compare with), ConnectorX, polars
    ``read_database`` on an AsyncEngine, the naive ORM way, and on PostgreSQL the
    fastest way known before the toolkit (COPY CSV + ``pd.read_csv``).
write (:mod:`benchmarks.write`)
    A DataFrame of N rows into the empty table: ``tk.insert_frame`` (validation
    included), ``DataFrame.to_sql`` (default and ``method="multi"``), the raw driver
    (asyncpg ``copy_records_to_table`` / sqlite3 ``executemany``) and the naive ORM way.
memory (:mod:`benchmarks.memory`)
    Peak RSS of ``read_frame`` versus ``stream_frames``, each in a fresh process.
scaling (:mod:`benchmarks.scaling`)
    ``insert_frame`` and ``read_frame`` at N/10, 3N/10 and N rows: time per row.

How: the data come from a seeded numpy generator (:mod:`benchmarks.data`). Methods of a
section run round-robin, each up to ``--repeats`` times (the median is reported) and
checked for the right row count; a method stops repeating once its runs pass
``--budget`` seconds. The slow methods (naive ORM read and write, ``to_sql`` with
``method="multi"``) run on the first ``--slow-rows`` rows and are extrapolated
linearly, marked so in the report; ``--skip-slow`` leaves them out. The report (a
Markdown table per dialect and section, the issue's targets marked met / not met, and
the machine) goes to stdout and to ``benchmarks/results/latest.md``.

Usage::

    .venv/bin/python -m benchmarks                    # the full run (make bench)
    .venv/bin/python -m benchmarks --rows 100000 --repeats 1 --only read --dialect sqlite
"""
