"""``[state] url``: a libpq connection string (``host=db1 dbname=agentd``) or URL
(``postgresql://agentd@db1:5432/agentd``), read by libpq itself through psycopg, so that
what passes here is what the connection will mean.

The text is a secret (it may hold a password), so nothing here ever puts it, or a piece
of it, in a message: libpq's own parse errors quote the offending fragment, which may be
the password, and those quotes are masked unless they hold a parameter's name.

psycopg is imported only when a url is there to read: a JSON-backed setup never loads it.
"""

from __future__ import annotations

import re

from agentd.config.secrets import MASK

# What ``config show`` and the error messages may say of a url; every other parameter's
# value (password, sslpassword, and any the user thinks private) is masked.
SHOWN_KEYS = ("host", "port", "dbname", "user")
# The parameters libpq takes a password in.
PASSWORD_KEYS = ("password", "sslpassword")
_QUOTED = re.compile(r'"([^"]*)"')
_PARAMETER = re.compile(r"[A-Za-z_]+")


def parse(url: str) -> dict[str, str]:
    """The url's parameters, as libpq reads them; ValueError with a message that holds
    none of the url's text but parameter names."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if not url.strip():
        raise ValueError("must not be empty; write at least the database, e.g. 'dbname=agentd'")
    try:
        parsed = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise ValueError(
            f"not a libpq connection string or postgresql:// URL: {_safe(str(exc), url)}"
        ) from None
    return {key: str(value) for key, value in parsed.items() if value is not None}


def _safe(message: str, url: str) -> str:
    lines = message.strip().splitlines()
    first = lines[0] if lines else "unreadable"

    def keep(found: re.Match[str]) -> str:
        word = found.group(1)
        named = _PARAMETER.fullmatch(word) and re.search(rf"(?:^|\s){re.escape(word)}\s*=", url)
        # A separator libpq names ("=", "]") tells where the mistake is and hides nothing.
        mark = len(word) == 1 and not word.isalnum()
        return found.group(0) if named or mark else f'"{MASK}"'

    return _QUOTED.sub(keep, first)


def masked(url: str) -> str:
    """The url as ``config show`` prints it: host, port, database and user as written,
    every other parameter by name with its value masked; an unreadable one masked whole."""
    try:
        parsed = parse(url)
    except ValueError:
        return MASK
    shown = [(key, parsed[key]) for key in SHOWN_KEYS if key in parsed]
    shown += [(key, MASK) for key in parsed if key not in SHOWN_KEYS]
    return " ".join(f"{key}={_quoted(value)}" for key, value in shown)


def _quoted(value: str) -> str:
    # libpq's key=value quoting: a value with spaces or quotes in single quotes.
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def secrets(url: str) -> list[str]:
    """What to mask wherever a message might carry the url: the whole text, and its
    passwords (a driver's message may quote one back)."""
    found = [url]
    try:
        parsed = parse(url)
    except ValueError:
        return found
    return found + [value for key, value in parsed.items() if key in PASSWORD_KEYS]
