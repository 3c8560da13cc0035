"""Which configured values are secrets, and how they are shown: never in full.

Kept apart from the schema so that the redactor and ``config show``'s renderer need no
pydantic.
"""

from __future__ import annotations

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
MASK = "********"


def is_secret_key(key: str) -> bool:
    """Env keys whose values are never printed: API_KEY, GH_TOKEN, DB_PASSWORD, ..."""
    upper = key.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def redact_url(url: str) -> str:
    """``scheme://host[:port]``: the path and query of a hook URL are often its secret,
    and userinfo is a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}" if parts.scheme and host else "(unparseable URL)"


def masked_url(url: str) -> str:
    """``redact_url`` marked as cut when it was (``https://host/********``): ``config
    show``'s reader must not take the host alone for the whole URL."""
    shown = redact_url(url)
    cut = url.rstrip("/") != shown and shown != "(unparseable URL)"
    return f"{shown}/{MASK}" if cut else shown
