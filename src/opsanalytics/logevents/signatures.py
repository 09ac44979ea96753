r"""Error signatures: a message with its variable parts replaced, so repeats of one error group together.

The realtime windows (their top error signatures) and the batch job's signature reports use the same rules.
``normalise_message`` keeps the first line (a stack trace's frames vary less than its message, and the
first line names the error), then replaces, in this order: e-mail addresses, UUIDs, ISO-8601 and
common-log timestamps, IPv4 addresses, hex strings (``0x…`` or 8+ hex digits with at least one digit),
then any remaining number. Each becomes a placeholder (``<email>``, ``<uuid>``, ``<ts>``, ``<ip>``,
``<hex>``, ``<num>``); whitespace runs collapse to one space.

The rules are written once, as pattern strings (`SIGNATURE_RULES`), in the part of the syntax that Python's
``re`` and Java's ``java.util.regex`` read alike. The Spark job applies the same strings with
``regexp_replace`` (`opsanalytics.batch.transforms.signature_column`) to messages made only of
`PORTABLE_CHARACTERS`, where both engines give every construct used here (``\w``, ``\d``, ``\s``, ``\b``,
classes, lookahead, leftmost-first alternation) the same meaning; any other message goes through this
function as a Python UDF. A test checks that both agree on many generated messages.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_SIGNATURE_CHARS: Final = 512

SIGNATURE_ID_CHARS: Final = 24
PORTABLE_CHARACTERS: Final = r"\x00-\x1b\x20-\x7f"
r"""A regex class body: ASCII without ``\x1c``-``\x1f``. On these characters both engines read ``\w`` as
``[A-Za-z0-9_]``, ``\d`` as ``[0-9]``, ``\s`` (and ``str.strip``) as ``[ \t\n\x0b\x0c\r]`` and ``\b`` by
that ``\w``. Python also counts ``\x1c``-``\x1f`` as whitespace and reads ``\w``, ``\d`` and ``\b`` by
Unicode elsewhere; Java 17 reads ``\b`` by Unicode letters but ``\w`` and ``\d`` as ASCII."""

SIGNATURE_RULES: Final[tuple[tuple[str, str], ...]] = (
    (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
        r"|\b\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?",
        "<ts>",
    ),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>"),
    (r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b", "<hex>"),
    (r"\d+(?:\.\d+)?", "<num>"),
)
"""(pattern, placeholder) in the order they apply; see the module docstring before changing the syntax."""
WHITESPACE_RULE: Final = (r"\s+", " ")

_RULES: Final = tuple((re.compile(pattern), placeholder) for pattern, placeholder in SIGNATURE_RULES)
_WHITESPACE: Final = re.compile(WHITESPACE_RULE[0])


def normalise_message(message: str | None) -> str:
    """The signature of ``message``: its first line with ids, numbers, times and addresses replaced."""
    if not message:
        return ""
    first_line = message.strip().split("\n", 1)[0]
    text = first_line
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _WHITESPACE.sub(WHITESPACE_RULE[1], text).strip()[:MAX_SIGNATURE_CHARS]


def signature_id(signature: str) -> str:
    """A short stable id of a signature (documents are keyed by it; signatures can be long)."""
    return hashlib.sha256(signature.encode("utf-8")).hexdigest()[:SIGNATURE_ID_CHARS]
