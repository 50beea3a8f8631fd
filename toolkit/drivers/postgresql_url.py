"""libpq connection options in a PostgreSQL URL, as asyncpg takes them.

Hosted PostgreSQL hands out URLs with libpq's query options (``?sslmode=require``,
``application_name=...``, ``connect_timeout=10``, ``options=-c ...``). SQLAlchemy passes
a URL's query to ``asyncpg.connect`` as keyword arguments, which asyncpg does not take
under those names. :func:`asyncpg_options` moves each one to where asyncpg reads it:

============================================  ==========================================
URL option                                    asyncpg
============================================  ==========================================
``sslmode``, ``sslrootcert``, ``sslcert``,    its own libpq-style parsing (``dsn``), which
``sslkey``, ``sslpassword``, ``sslcrl``,      builds the SSL context as libpq does
``ssl_min_protocol_version``,
``ssl_max_protocol_version``,
``sslnegotiation``; ``requiressl=1``
``application_name``,                         ``server_settings["application_name"]``
``fallback_application_name``
``options`` (``-c name=value`` ...)           ``server_settings``
``connect_timeout`` (seconds; 0 = forever)    ``timeout``
``target_session_attrs``, ``krbsrvname``,     the keyword of the same name
``gsslib``, ``passfile``, ``service``,
``servicefile``
``ssl`` (asyncpg's spelling; true/false)      ``ssl``
``client_encoding`` (UTF8 only)               nothing: asyncpg always speaks UTF8
``command_timeout``,                          the keyword of the same name, as a number
``statement_cache_size``, ...
============================================  ==========================================

``host``, ``port`` and ``prepared_statement_cache_size`` stay in the URL (SQLAlchemy
reads them). Any other option is a ``ConfigurationError`` that names it.
"""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import URL

from ..errors import ConfigurationError

__all__ = ["asyncpg_options"]

_SQLALCHEMY = {"host", "port", "prepared_statement_cache_size", "prepared_statement_name_func"}
_SSL = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "sslnegotiation",
}
_SAME_NAME = {"target_session_attrs", "krbsrvname", "gsslib", "passfile", "service", "servicefile"}
_NUMBERS: dict[str, type[int] | type[float]] = {
    "command_timeout": float,
    "statement_cache_size": int,
    "max_cached_statement_lifetime": int,
    "max_cacheable_statement_size": int,
}


def asyncpg_options(url: URL, connect_args: Mapping[str, Any]) -> tuple[URL, dict[str, Any]]:
    """The URL without libpq options, and ``connect_args`` with them added.

    Values the caller gave in ``connect_args`` (and its ``server_settings``) win over
    the URL's.

    Raises
    ------
    ConfigurationError
        An option asyncpg has no equivalent for, or a value it cannot take.
    """
    kept: dict[str, Any] = {}
    args: dict[str, Any] = {}
    settings: dict[str, str] = {}
    ssl: dict[str, str] = {}
    for key, raw in url.query.items():
        value = raw[-1] if isinstance(raw, tuple) else raw
        if key in _SQLALCHEMY:
            kept[key] = raw
        elif key in _SSL:
            ssl[key] = value
        elif key == "requiressl":
            if value == "1":
                ssl.setdefault("sslmode", "require")
        elif key == "ssl":
            # asyncpg's own spelling (?ssl=require), common in asyncpg URLs.
            booleans = {"true": "require", "1": "require", "false": "disable", "0": "disable"}
            args["ssl"] = booleans.get(value.lower(), value)
        elif key in ("application_name", "fallback_application_name"):
            if key == "application_name" or "application_name" not in settings:
                settings["application_name"] = value
        elif key == "options":
            settings.update(_server_options(value))
        elif key == "connect_timeout":
            args["timeout"] = _number(key, value, float) or None
        elif key in _SAME_NAME:
            args[key] = value
        elif key in _NUMBERS:
            args[key] = _number(key, value, _NUMBERS[key])
        elif key == "client_encoding":
            if value.replace("-", "").upper() not in ("UTF8", "UNICODE"):
                raise ConfigurationError(
                    f"client_encoding={value!r} in the URL: asyncpg always speaks UTF8. "
                    "Remove the option."
                )
        else:
            raise ConfigurationError(
                f"The URL option {key!r} has no asyncpg equivalent, so the toolkit cannot "
                "use it. Remove it from the URL; a server setting goes in "
                "connect_args={'server_settings': {...}} or in options=-c name=value."
            )
    if ssl:
        # asyncpg parses libpq's SSL options itself (from a DSN), building the SSL
        # context as libpq would; host, user and the rest still come from the URL.
        args["dsn"] = "postgresql://?" + urllib.parse.urlencode(ssl)
    given = dict(connect_args)
    if settings or "server_settings" in given:
        given["server_settings"] = {**settings, **(given.get("server_settings") or {})}
    return url.set(query=kept), {**args, **given}


def _number(key: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigurationError(
            f"The URL option {key}={value!r} must be a number ({kind.__name__})."
        ) from exc


def _server_options(value: str) -> dict[str, str]:
    """libpq's ``options``: ``-c name=value`` or ``--name=value``, blank-separated."""
    settings: dict[str, str] = {}
    words = shlex.split(value)  # a backslash escapes a blank, as in libpq
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            pair, i = words[i + 1], i + 2
        elif (word.startswith("-c") and len(word) > 2) or word.startswith("--"):
            pair, i = word[2:], i + 1
        else:
            raise ConfigurationError(
                f"The URL option options={value!r} holds {word!r}; the toolkit understands "
                "server settings only ('-c name=value' or '--name=value')."
            )
        name, sep, setting = pair.partition("=")
        if not sep or not name:
            raise ConfigurationError(
                f"The URL option options={value!r} holds {pair!r}; write it as name=value."
            )
        settings[name.replace("-", "_")] = setting
    return settings
