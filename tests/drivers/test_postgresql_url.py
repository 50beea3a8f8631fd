"""libpq options in a PostgreSQL URL reach asyncpg under the names it takes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import make_url

import toolkit as tk
from tests.conftest import PG_URL, require_postgres
from toolkit.drivers.postgresql_url import asyncpg_options

BASE = "postgresql+asyncpg://ann@db.example.org:6543/sales"


def options(query: str, connect_args: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    return asyncpg_options(make_url(f"{BASE}?{query}"), connect_args or {})


def test_ssl_options_go_to_asyncpgs_own_parser() -> None:
    url, args = options("sslmode=require&sslrootcert=/etc/ca.pem")
    assert url.query == {}
    assert url.host == "db.example.org" and url.port == 6543
    assert args == {"dsn": "postgresql://?sslmode=require&sslrootcert=%2Fetc%2Fca.pem"}


def test_asyncpg_ssl_spelling_is_kept() -> None:
    assert options("ssl=require")[1] == {"ssl": "require"}
    assert options("ssl=true")[1] == {"ssl": "require"}


def test_requiressl_is_sslmode_require() -> None:
    assert options("requiressl=1")[1] == {"dsn": "postgresql://?sslmode=require"}


def test_application_name_timeout_and_options() -> None:
    url, args = options(
        "application_name=report&connect_timeout=7&target_session_attrs=read-write"
        "&options=-c%20statement_timeout%3D5s%20--search-path%3Dx"
    )
    assert url.query == {}
    assert args == {
        "timeout": 7.0,
        "target_session_attrs": "read-write",
        "server_settings": {
            "application_name": "report",
            "statement_timeout": "5s",
            "search_path": "x",
        },
    }


def test_connect_timeout_zero_waits_forever() -> None:
    assert options("connect_timeout=0")[1] == {"timeout": None}


def test_callers_connect_args_win() -> None:
    _, args = options(
        "application_name=url&command_timeout=3",
        {"server_settings": {"application_name": "mine", "lock_timeout": "1s"}},
    )
    assert args == {
        "command_timeout": 3.0,
        "server_settings": {"application_name": "mine", "lock_timeout": "1s"},
    }


def test_sqlalchemy_options_stay_in_the_url() -> None:
    url, args = options("prepared_statement_cache_size=0&sslmode=disable")
    assert dict(url.query) == {"prepared_statement_cache_size": "0"}
    assert args == {"dsn": "postgresql://?sslmode=disable"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("keepalives=1", "'keepalives' has no asyncpg equivalent"),
        ("gssencmode=disable", "'gssencmode' has no asyncpg equivalent"),
        ("connect_timeout=soon", "connect_timeout='soon' must be a number"),
        ("client_encoding=latin1", "asyncpg always speaks UTF8"),
        ("options=-X", "server settings only"),
    ],
    ids=["keepalives", "gssencmode", "bad-timeout", "encoding", "bad-options"],
)
def test_options_asyncpg_cannot_take_are_configuration_errors(query: str, message: str) -> None:
    with pytest.raises(tk.ConfigurationError, match=message):
        options(query)
    with pytest.raises(tk.ConfigurationError, match=message):
        tk.connect(f"{BASE}?{query}")


@pytest.mark.postgres_only
async def test_hosted_style_url_connects() -> None:
    require_postgres()
    query = (
        "sslmode=prefer&application_name=toolkit-test&connect_timeout=5"
        "&options=-c%20statement_timeout%3D4321&target_session_attrs=any"
    )
    db = tk.connect(f"{PG_URL}?{query}")
    try:
        frame = await tk.read_frame(
            db,
            "SELECT current_setting('application_name') AS app, "
            "current_setting('statement_timeout') AS timeout",
        )
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await db.dispose()
    assert frame.to_dict("records") == [{"app": "toolkit-test", "timeout": "4321ms"}]


@pytest.mark.postgres_only
async def test_refused_ssl_is_unavailable() -> None:
    require_postgres()
    db = tk.connect(f"{PG_URL}?sslmode=require")
    try:
        with pytest.raises(tk.DatabaseUnavailableError):
            await tk.read_frame(db, "SELECT 1 AS a")
    finally:
        await db.dispose()
