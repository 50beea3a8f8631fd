"""The crud package keeps one flat namespace: every name of the design, ``__all__`` sorted."""

from __future__ import annotations

import inspect

from toolkit import crud

DESIGN_NAMES = {
    "Page",
    "count",
    "create",
    "create_many",
    "delete",
    "delete_by",
    "delete_many",
    "exists",
    "get",
    "get_by",
    "get_many",
    "get_or_create",
    "paginate",
    "search",
    "select",
    "stream",
    "update",
    "update_by",
    "update_many",
    "upsert",
    "upsert_many",
    "validate",
}


def test_every_design_name_is_exported() -> None:
    assert set(crud.__all__) == DESIGN_NAMES
    assert list(crud.__all__) == sorted(crud.__all__)
    assert all(hasattr(crud, name) for name in crud.__all__)


def test_options_are_keyword_only() -> None:
    """Options never take a position that a lookup or an expression could fill."""
    for name in ("search", "get_by", "paginate", "count", "exists", "select", "stream"):
        parameters = inspect.signature(getattr(crud, name)).parameters.values()
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert positional in (["session", "model"], ["model"]), name
    for name in ("update_by", "delete_by", "upsert_many"):
        parameters = inspect.signature(getattr(crud, name)).parameters.values()
        keyword = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
        assert keyword & {"allow_multiple", "update_columns"}, name
