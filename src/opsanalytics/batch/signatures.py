"""Error signatures: a message with its variable parts replaced, so repeats of one error group together.

``normalise_message`` keeps the first line (a stack trace's frames vary less than its message, and the
first line names the error), then replaces, in this order: e-mail addresses, UUIDs, ISO-8601 and
common-log timestamps, IPv4 addresses, hex strings (``0x…`` or 8+ hex digits with at least one digit),
then any remaining number. Each becomes a placeholder (``<email>``, ``<uuid>``, ``<ts>``, ``<ip>``,
``<hex>``, ``<num>``); whitespace runs collapse to one space. The Spark job calls this same function
through a Python UDF, so there is one definition.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_SIGNATURE_CHARS: Final = 512

_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
            r"|\b\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"
        ),
        "<ts>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<num>"),
)
_WHITESPACE: Final = re.compile(r"\s+")


def normalise_message(message: str | None) -> str:
    """The signature of ``message``: its first line with ids, numbers, times and addresses replaced."""
    if not message:
        return ""
    first_line = message.strip().split("\n", 1)[0]
    text = first_line
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_SIGNATURE_CHARS]


def signature_id(signature: str) -> str:
    """A short stable id of a signature (documents are keyed by it; signatures can be long)."""
    return hashlib.sha256(signature.encode("utf-8")).hexdigest()[:24]
