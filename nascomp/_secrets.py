"""Credentials in URLs never reach a message, a log or a file: the one masking rule every printed URL goes through.

A storage URL's password may hold a raw ``@`` (``postgresql://nascomp:top@secret@host/db``). SQLAlchemy, like RFC
3986, ends the password at the first ``@``, so it would read ``top`` as the password and ``secret@host`` as the
host, and its masked form (``nascomp:***@secret@host``) would print part of the password. Here everything between
``://`` and the LAST ``@`` of the URL is credentials.
"""

from __future__ import annotations

import re

__all__ = ["mask_credentials", "raw_at_in_credentials"]

# scheme:// and what follows it up to whitespace or a quote (a URL quoted inside a message)
_URL = re.compile(r"\b([a-zA-Z][\w+.-]*://)([^\s'\"]*)")


def _split(tail: str) -> tuple[str, str] | None:
    """``(credentials, rest)`` of what follows ``://``, split at its last ``@``; ``None`` when it has none (or has
    no authority: ``sqlite:///path``)."""
    if tail.startswith("/") or "@" not in tail:
        return None
    credentials, rest = tail.rsplit("@", 1)
    return credentials, rest


def _mask(match: re.Match) -> str:
    scheme, tail = match.group(1), match.group(2)
    parts = _split(tail)
    if parts is None:
        return match.group(0)
    credentials, rest = parts
    user, colon, _ = credentials.partition(":")
    if colon and not any(c in user for c in "@/"):  # user:password -> keep the user, as SQLAlchemy does
        return f"{scheme}{user}:***@{rest}"
    return f"{scheme}***@{rest}"


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (everything between the user name and the
    last ``@``; the whole ``user:password`` when the user name holds an ``@``).

    Example:
        >>> mask_credentials("cannot open 'postgresql://nascomp:top@secret@127.0.0.1:5432/db'")
        "cannot open 'postgresql://nascomp:***@127.0.0.1:5432/db'"
    """
    return _URL.sub(_mask, text)


def raw_at_in_credentials(url: str) -> bool:
    """Whether the user name or password of ``url`` holds an ``@`` that is not percent-encoded (``%40``)."""
    match = _URL.match(url)
    parts = _split(match.group(2)) if match else None
    return parts is not None and "@" in parts[0]
