"""The batch job's error signatures in Spark SQL equal `normalise_message` and `signature_id` in Python.

The rules are one list of pattern strings (`opsanalytics.logevents.signatures.SIGNATURE_RULES`) that Python's
``re`` and Spark's Java regex both apply. Thousands of generated messages, built from the pieces the rules
look for, separators that sit on the edges of ``\\w``, ``\\s`` and ``\\b``, and characters outside the
portable set, must get the same signature and id from Spark as from the Python function.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from opsanalytics.batch.local import local_spark_session
from opsanalytics.logevents.signatures import PORTABLE_CHARACTERS, normalise_message, signature_id

pytestmark = pytest.mark.integration

PIECES = (
    "jane.doe+x@example.co.uk",
    "a@b.c",
    "user@host",
    "3f2b8c1e-5d4a-4b6f-a1e2-9c8d7e6f5a4b",
    "3F2B8C1E-5D4A-4B6F-A1E2-9C8D7E6F5A4B",
    "2026-01-01T10:00:00.123Z",
    "2026-01-01 10:00",
    "2026-01-01T10:00:00,5+02:00",
    "2026-01-01T10:00:00-0130",
    "01/Jan/2026:10:00:00 +0000",
    "01/Jan/2026:10:00:00",
    "203.0.113.7",
    "203.0.113.7:443",
    "1.2.3.4.5",
    "999.1.1.1",
    "0xDEADBEEF",
    "0x1",
    "0xg",
    "9f86d081884c7d65",
    "deadbeef",
    "cafe1234",
    "12345678",
    "4200",
    "3.14",
    "1.",
    ".5",
    "db-17.internal",
    "order_42",
    "x9",
    "Timeout",
    "KeyError:",
    "'customer_id'",
    "[ERROR]",
    "<num>",
    "_",
    "-",
    ".",
    "@",
    "+",
    ":",
    "/",
    "\x1b[31m",
    "\x00",
    "\x7f",
)
NON_PORTABLE_PIECES = (
    "é",
    "Ünïcode",
    "٣٤",
    "½",
    "２０２６",
    "😀",
    "日本",
)
SEPARATORS = (" ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "", "-", ".", ",", "(", ")", "=", "'")
ODD_SEPARATORS = ("\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b", "\u0301")


def generated_messages(count: int, seed: int = 7) -> Iterator[str | None]:
    rng = random.Random(seed)
    yield from (None, "", " ", "\n", " \t\r\n ", "\x1c", "\x1cabc 12\x1f", "a" * 700, "1 " * 400)
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            odd = rng.random() < 0.01
            parts.append(rng.choice(NON_PORTABLE_PIECES) if odd else rng.choice(PIECES))
            odd = rng.random() < 0.01
            parts.append(rng.choice(ODD_SEPARATORS) if odd else rng.choice(SEPARATORS))
        yield "".join(parts)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session(app_name="opsanalytics-signature-tests", cores=2, shuffle_partitions=2)
    yield session
    session.stop()


def test_spark_signatures_equal_the_python_function(spark: Any) -> None:
    import re

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from opsanalytics.batch.transforms import signature_column, signature_id_column, with_signatures

    messages = list(generated_messages(20_000))
    non_portable = re.compile(f"[^{PORTABLE_CHARACTERS}]")
    portable = [m for m in messages if m is None or not non_portable.search(m)]
    assert 15_000 < len(portable) < len(messages)  # both paths are exercised

    schema = T.StructType([T.StructField("n", T.IntegerType()), T.StructField("message", T.StringType())])
    frame = spark.createDataFrame(list(enumerate(messages)), schema)
    rows = with_signatures(frame).select("n", "signature", signature_id_column(F.col("signature")).alias("id"))
    actual = {row["n"]: (row["signature"], row["id"]) for row in rows.collect()}
    expected = {n: (normalise_message(m), signature_id(normalise_message(m))) for n, m in enumerate(messages)}
    mismatches = [(messages[n], actual.get(n), value) for n, value in expected.items() if actual.get(n) != value]
    assert not mismatches, mismatches[:5]

    # the SQL path alone, on every portable message (no Python UDF involved)
    sql_only = spark.createDataFrame(list(enumerate(portable)), schema).select(
        "n", signature_column(F.col("message")).alias("signature")
    )
    assert {row["n"]: row["signature"] for row in sql_only.collect()} == {
        n: normalise_message(m) for n, m in enumerate(portable)
    }


def test_a_multiline_stack_trace_keeps_its_first_line(spark: Any) -> None:
    from pyspark.sql import functions as F

    from opsanalytics.batch.transforms import signature_column

    message = "  KeyError: 'customer_id' at 0x7f3a\r\nTraceback (most recent call last):\n  File x, line 3\n"
    row = spark.createDataFrame([(message,)], "message string").select(signature_column(F.col("message"))).first()
    assert row[0] == normalise_message(message) == "KeyError: 'customer_id' at <hex>"
