"""``Job``: init and commit, recorded so that a test can see the run end as Glue's would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class Job:
    runs: ClassVar[list[Job]] = []

    def __init__(self, glue_context: Any) -> None:
        self.glue_context = glue_context
        self.name = ""
        self.arguments: dict[str, str] = {}
        self.commits = 0
        Job.runs.append(self)

    def init(self, name: str, arguments: Mapping[str, str]) -> None:
        self.name = name
        self.arguments = dict(arguments)

    def commit(self) -> None:
        self.commits += 1
