"""Native fast path of `opsanalytics.firehose.transform_record` (built from native/ with maturin)."""

def transform_record(data: str | bytes) -> tuple[bytes, str, str, int] | str | None:
    """Transform the base64 data of one Firehose record.

    Returns ``(ndjson, dt, hour, log_events)`` for an Ok outcome, the reason of a Dropped outcome, or None
    when the record is left to the Python path (which then gives every error outcome).
    """

def b64encode(data: bytes) -> str:
    """``base64.b64encode(data).decode("ascii")``."""
