"""Where the project's files are: the checkout the package is installed from, or OPSANALYTICS_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    override = os.environ.get("OPSANALYTICS_HOME")
    if override:
        return Path(override).resolve()
    # src/opsanalytics/paths.py → the checkout root (the package is installed in editable mode)
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "functions").is_dir():
        return candidate
    cwd = Path.cwd()
    if (cwd / "functions").is_dir():
        return cwd
    raise FileNotFoundError(
        "cannot find the opsanalytics checkout (no functions/ directory); run from the repository root "
        "or set OPSANALYTICS_HOME"
    )
