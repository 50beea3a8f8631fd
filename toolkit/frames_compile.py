"""From a frame query to what the driver runs: SQL, positional arguments, column specs.

SQLAlchemy compiles the query for the connection's dialect (every value a bound
parameter); the column specs come from the select's column types, else from the server
where it can tell (the driver's ``describe``), else the driver infers them from the
values. ``dtypes=`` and ``text(...).columns(...)`` override them by column name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import TextClause, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.selectable import TextualSelect

from .drivers import Driver, compat, driver_for
from .dtypes import ColumnSpec, override_specs, spec_from_type, values_to_frame
from .errors import ConfigurationError
from .frames_connection import announce, driver_of
from .sqltext import named_parameters, one_statement

__all__ = [
    "Params",
    "Prepared",
    "compile_query",
    "declared_types",
    "positional_params_error",
    "prepare",
    "retype",
]

#: Query parameters: by name (``:name``, ``%(name)s``), or in order (``?``, ``%s``,
#: ``$1``) for a SQL string, as pandas' ``read_sql(params=...)`` takes them.
Params = Mapping[str, Any] | Sequence[Any]

#: What :func:`prepare` returns: the driver, the driver connection, SQL, arguments and
#: column specs (None when the driver infers them from the values).
Prepared = tuple[Driver, Any, str, list[Any], list[ColumnSpec] | None]


def positional_params_error(params: Any) -> ConfigurationError:
    """The error for positional params given with a SQLAlchemy statement."""
    return ConfigurationError(
        f"Positional params ({type(params).__name__}) fill the placeholders of a SQL "
        "string; for a SQLAlchemy statement pass params as a dict {name: value}."
    )


def compile_query(
    query: Any, params: Params | None, dialect: Dialect
) -> tuple[str, list[Any], list[ColumnSpec] | None]:
    """SQL for the driver, positional arguments, and column specs when types are known.

    A SQL string may end in ``;`` and take its parameters in any DBAPI style (see
    :mod:`toolkit.sqltext`).

    Raises
    ------
    ConfigurationError
        ``query`` is neither SQL text nor an executable SQLAlchemy statement, holds more
        than one statement, or a parameter has no value in ``params``.
    """
    if isinstance(query, str):
        if (params is not None and not isinstance(params, Mapping)) or "%(" in query:
            query, params = named_parameters(query, params or {})
        query = text(query)
    elif params is not None and not isinstance(params, Mapping):
        raise positional_params_error(params)
    if not isinstance(query, ClauseElement) or not isinstance(query, Executable):
        raise ConfigurationError(
            f"read_frame takes a SQL string or a SQLAlchemy select, not {type(query).__name__}."
        )
    query = driver_for(dialect.name).rewrite_statement(query, dialect)
    compiled: Any = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    try:
        values = compat.compiled_params(compiled, params if isinstance(params, Mapping) else {})
    except sa_exc.InvalidRequestError as exc:
        raise ConfigurationError(f"{exc}. Pass it in params={{...}}.") from exc
    processors = compat.bind_processors(compiled)
    args = []
    for name in compiled.positiontup or []:
        value = values[name]
        processor = processors.get(name)
        args.append(processor(value) if processor is not None else value)
    specs: list[ColumnSpec] | None = None
    # text(sql).columns(...) may type only some columns, matched by name: the driver
    # finds every column, and the declared types are applied on top (declared_types).
    if not isinstance(query, TextualSelect):
        columns = compat.result_columns(compiled)
        if columns:
            specs = [spec_from_type(entry[0], entry[3]) for entry in columns]
    sql: str = compiled.string
    if isinstance(query, TextClause | TextualSelect):
        # The driver may wrap the SQL (COPY (...) TO STDOUT): one statement, nothing after.
        sql = one_statement(sql)
    return sql, args, specs


def declared_types(query: Any, dtypes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Types given by the caller: ``text(...).columns(...)``, then ``dtypes=`` over them."""
    declared: dict[str, Any] = {}
    if isinstance(query, TextualSelect):
        declared = {c.name: c.type for c in query.selected_columns}
    return {**declared, **(dtypes or {})}


async def prepare(
    conn: AsyncConnection,
    query: Any,
    params: Params | None,
    dtypes: Mapping[str, Any] | None,
) -> Prepared:
    """Compile ``query`` for ``conn``'s driver and announce it to SQLAlchemy's listeners."""
    sql, args, specs = compile_query(query, params, conn.dialect)
    driver, driver_conn = await driver_of(conn)
    if specs is None:
        specs = await driver.describe(driver_conn, sql)
    elif not all(s.declared for s in specs):
        # Expressions of no declared type (func.avg(...)): as the server types them.
        server = await driver.describe(driver_conn, sql)
        if server is not None:
            specs = [
                s if s.declared else replace(found, name=s.name)
                for s, found in zip(specs, server, strict=True)
            ]
    declared = declared_types(query, dtypes)
    if specs is not None:
        specs = override_specs(specs, declared)
    announce(conn, sql, args)
    return driver, driver_conn, sql, args, specs


def retype(frame: pd.DataFrame, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """Apply ``dtypes=`` to the named columns of a frame whose types were inferred.

    The other columns keep the types inferred for them.
    """
    out = frame.copy(deep=False)
    for name in frame.columns.intersection(list(dtypes)):
        (spec,) = override_specs([ColumnSpec(str(name), "object")], {name: dtypes[name]})
        values = [
            None if v is pd.NA or (not isinstance(v, str) and pd.isna(v)) else v
            for v in frame[name].tolist()
        ]
        # Only SQLite leaves SQL strings untyped: its stored values are decoded.
        out[name] = values_to_frame([spec], [values], "sqlite").iloc[:, 0].set_axis(frame.index)
    return out
