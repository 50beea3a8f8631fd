"""The registry itself: the README's dtype table, PostgreSQL type names and modifiers,
and the SQL rewriting that describes a SQL string's NUMERIC columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.drivers.pg_describe import inline_parameters
from toolkit.types import FAMILIES, dtype_table, pandas_dtype, spec_from_pg, spec_from_type
from toolkit.types.registry import family_of

from .test_conformance import CASES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_dtype_table_is_the_registry() -> None:
    assert dtype_table() in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.family for c in CASES])
def test_each_family_states_the_dtype_its_columns_get(case: object) -> None:
    spec = spec_from_type("v", case.column())  # type: ignore[attr-defined]
    (family,) = [f for f in FAMILIES if f.name == case.family]  # type: ignore[attr-defined]
    assert spec.kind == family.kind
    if family.name != "ENUM":  # ENUM shares VARCHAR's kind and rules
        assert family_of(spec) == family
    dtype = pandas_dtype(spec)
    shown = f"string[{dtype.storage}]" if str(dtype) == "string" else str(dtype)
    shown = shown.replace(f"({spec.precision}, {spec.scale})", "(p, s)")
    assert family.dtype.startswith(f"`{shown}`")


def test_families_are_unique() -> None:
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)


@pytest.mark.parametrize(
    ("typmod", "precision", "scale"),
    [(-1, None, None), ((12 << 16 | 2) + 4, 12, 2), (1000 << 16 | 4, 1000, 0)],
)
def test_numeric_type_modifier(typmod: int, precision: int | None, scale: int | None) -> None:
    spec = spec_from_pg("n", "numeric", "scalar", typmod)
    assert (spec.kind, spec.precision, spec.scale) == ("decimal", precision, scale)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT $1 + $2", "SELECT CAST(NULL AS a) + CAST(NULL AS b)"),
        ("SELECT '$1', \"$2\", $1 -- $2\n", "SELECT '$1', \"$2\", CAST(NULL AS a) -- $2\n"),
        (
            "SELECT /* $1 */ $$ $2 $$, $x$ $1 $x$, $2",
            "SELECT /* $1 */ $$ $2 $$, $x$ $1 $x$, CAST(NULL AS b)",
        ),
        ("SELECT 'it''s $1', $1", "SELECT 'it''s $1', CAST(NULL AS a)"),
    ],
)
def test_parameters_become_typed_nulls_outside_quotes(sql: str, expected: str) -> None:
    assert inline_parameters(sql, ["a", "b"]) == expected


def test_unknown_parameter_or_open_dollar_quote_gives_up() -> None:
    assert inline_parameters("SELECT $3", ["a"]) is None
    assert inline_parameters("SELECT $q$ open", []) is None
