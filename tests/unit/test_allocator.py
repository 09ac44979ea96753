"""opsanalytics.allocator: the transformer's heap settings (glibc's mallopt)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from opsanalytics.allocator import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings() -> None:
    assert retain_freed_memory() is True
    assert retain_freed_memory() is True, "a warm environment may run the module twice"


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert retain_freed_memory() is False


def test_the_transformer_applies_them_at_start() -> None:
    source = (Path(__file__).resolve().parents[2] / "functions" / "log_transformer" / "app.py").read_text()
    assert "\nretain_freed_memory()\n" in source
