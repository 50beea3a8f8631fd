"""``toolkit load``: a CSV file into a model's table, validated, all or nothing.

When the load creates the table and then writes no row (rejected values, a duplicate, an
empty file, every row skipped), the table is dropped again: nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import SQLModel

from ..database import Database
from ..errors import FrameValidationError
from .common import CommandError, import_model, progress_enabled, reach, reason, show_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BATCH_ROWS", "ON_CONFLICT", "run_load"]

#: Rows per batch: the progress bar moves once per batch.
BATCH_ROWS = 10_000
ON_CONFLICT = ("error", "ignore", "update")


def _read_csv(path: Path, model: type[SQLModel]) -> pd.DataFrame:
    """The CSV as a frame of text (empty cells in nullable columns are NULL)."""
    import pandas as pd

    from ..demo.sample import read_csv_frame

    if not path.is_file():
        raise CommandError(f"CSV file {str(path)!r} not found; check the path.")
    try:
        return read_csv_frame(path, model)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CommandError(
            f"Cannot read {str(path)!r} as CSV: {reason(exc)}. It must be a UTF-8 CSV "
            "file with a header row of column names."
        ) from exc


async def _existing_tables(db: Database, schema: str | None) -> set[str]:
    from sqlalchemy import inspect as sa_inspect

    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa_inspect(sync).get_table_names(schema))
    return set(names)


async def _check_parents(db: Database, model: type[SQLModel], existing: set[str]) -> None:
    """Fail early, and clearly, when a table the model's foreign keys point to is missing."""
    table = model.__table__  # type: ignore[attr-defined]
    parents = sorted(
        {fk.target_fullname.rsplit(".", 1)[0] for fk in table.foreign_keys} - {table.fullname}
    )
    missing = [name for name in parents if name.rsplit(".", 1)[-1] not in existing]
    if missing:
        raise CommandError(
            f"Table {table.name} refers to {', '.join(missing)}, which does not exist in "
            f"{show_url(db)}; load {' and '.join(missing)} first (parent tables before "
            "the tables that point to them)."
        )


def _write_errors(errors: pd.DataFrame, out: str) -> None:
    """The whole problem table, one row per bad cell, with the CSV line of each row."""
    import pandas as pd

    table = errors.copy()
    rows = pd.to_numeric(table["row"], errors="coerce")
    # Row labels count data rows from 0; line 1 of the file is the header.
    table.insert(1, "line", (rows + 2).astype("Int64"))
    try:
        table.to_csv(out, index=False)
    except OSError as exc:
        raise CommandError(
            f"Cannot write the problem list to {out}: {reason(exc)}. Nothing was loaded."
        ) from exc


def _locate(exc: FrameValidationError, errors_file: str | None) -> CommandError:
    """Say which CSV rows failed, by row number and line (the header is line 1)."""
    import pandas as pd

    lines = []
    for record in exc.errors.head(5).to_dict("records"):
        label: Any = record["row"]
        if label is None or pd.isna(label):
            lines.append(f"column {record['column']}: {record['message']}")
        else:
            row = int(label) + 1
            lines.append(
                f"CSV row {row} (line {row + 1}), {record['column']}={record['value']!r}: "
                f"{record['message']}"
            )
    total = len(exc.errors)
    more = total - len(lines)
    tail = f" (and {more} more)" if more > 0 else ""
    if errors_file is not None:
        where = f" All {total} problem(s) are in {errors_file}."
    else:
        where = " Add --errors FILE to get all of them as CSV." if more > 0 else ""
    return CommandError("; ".join(lines) + tail + ". Nothing was loaded." + where)


async def _drop_quietly(db: Database, model: type[SQLModel]) -> None:
    """Drop the table this load created, while the load's own error propagates."""
    # The load's own error says more than a failed clean-up would.
    with contextlib.suppress(Exception):
        await db.drop_all(model)


async def run_load(db: Database, args: argparse.Namespace) -> int:
    """Load the CSV; drop the table again when this load made it and wrote nothing."""
    from ..frames import insert_frame

    path = Path(args.csv)
    model = import_model(args.model)
    frame = _read_csv(path, model)
    table = model.__table__  # type: ignore[attr-defined]
    await reach(db)
    existing = await _existing_tables(db, table.schema)
    await _check_parents(db, model, existing)
    created = table.name not in existing
    await db.create_all(model)
    try:
        count = await insert_frame(
            db,
            model,
            frame,
            on_conflict=args.on_conflict,
            progress=progress_enabled(),
            chunk_size=BATCH_ROWS,
        )
    except Exception as exc:
        if created:
            await _drop_quietly(db, model)
        if not isinstance(exc, FrameValidationError):
            raise
        if args.errors is not None:
            _write_errors(exc.errors, args.errors)
        raise _locate(exc, args.errors) from exc
    if created and count == 0:
        await db.drop_all(model)
    name = table.name
    skipped = len(frame) - count
    note = f"; {skipped:,} skipped (their keys exist)" if skipped > 0 else ""
    if count == 0:
        print(f"Nothing loaded from {path} ({len(frame):,} rows in the file{note}); ", end="")
        print(f"table {name} was not created." if created else f"{name} is unchanged.")
        return 0
    rows = "row" if count == 1 else "rows"
    print(f"Loaded {count:,} {rows} from {path} into {name} ({show_url(db)}){note}.")
    return 0
