"""Where the project's files are: the checkout the package is installed from, or OPSANALYTICS_HOME; and the
entry points the cloud runs from it (a Lambda handler, ``flink/main.py``, ``glue/batch_job.py``), loaded as the
scripts they are there, not as modules of this package."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


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


def default_parser_rules() -> Path | None:
    """``config/parsers.yaml`` of the checkout, the declared parser and masking rules local runs apply (the
    deploy ships the same file to the transformer and the Flink job), or None when there is none."""
    path = project_root() / "config" / "parsers.yaml"
    return path if path.is_file() else None


def default_metrics() -> Path | None:
    """``config/metrics.yaml`` of the checkout, the declared metrics local runs compute (the deploy ships the same
    file to the Flink and Glue jobs), or None when there is none."""
    path = project_root() / "config" / "metrics.yaml"
    return path if path.is_file() else None


def load_script(path: Path, module_name: str, *, fresh: bool = False) -> ModuleType:
    """The module `path` defines, registered as `module_name` (once, unless `fresh`: a new cold start)."""
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    if not path.is_file():
        raise FileNotFoundError(f"no entry point at {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
