"""Run the real Lambda handlers in-process, the way the Lambda service calls them.

Handlers are loaded from ``functions/<name>/app.py`` with the environment the template gives them. Their
stdout (Powertools logs and EMF metrics) goes to ``<logs_dir>/<name>.log``, the local stand-in for the
function's CloudWatch log group.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsanalytics.paths import load_script, project_root

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 300
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@contextlib.contextmanager
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalFunction:
    """One Lambda function: its module loaded once (a warm container), invoked many times."""

    def __init__(
        self,
        name: str,
        *,
        environment: Mapping[str, str] | None = None,
        logs_dir: Path | None = None,
        functions_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.environment = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),  # Lambda sets both
            "POWERTOOLS_SERVICE_NAME": name,
            "POWERTOOLS_METRICS_NAMESPACE": "OpsAnalytics",
            **(environment or {}),
        }
        self._log: io.TextIOBase
        if logs_dir is None:
            self._log = io.StringIO()
        else:
            logs_dir.mkdir(parents=True, exist_ok=True)
            self._log = (logs_dir / f"{name}.log").open("a", encoding="utf-8")
        path = (functions_dir or project_root() / "functions") / name / "app.py"
        with _environment(self.environment), contextlib.redirect_stdout(self._log):
            self.module = load_script(path, f"opsanalytics_local_{name}", fresh=True)
        self.handler: Handler = self.module.lambda_handler

    def invoke(self, event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(function_name=self.name)
        with _environment(self.environment), contextlib.redirect_stdout(self._log):
            return self.handler(event, context)

    def close(self) -> None:
        self._log.close()
