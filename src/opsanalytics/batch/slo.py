"""Service level objectives and the daily SLO report maths (pure Python).

Per service and UTC day (the definitions ``config/slo.yaml`` repeats):

- a **request** is an event that carries an HTTP status; it **failed** when it is an error by the
  pipeline's rule (level ERROR/FATAL/CRITICAL or status >= 500);
- **availability** = 1 - failed / requests (None when there were no requests);
- **latency attainment** = requests with ``latency_ms <= latency_threshold_ms`` / requests with a latency;
- the **error budget** of an objective with target ``t`` is ``1 - t``; the budget **remaining** is
  ``1 - (1 - achieved) / (1 - t)``: 1.0 untouched, 0.0 exactly spent, negative overspent.

Spark only counts (requests, failed, timed, fast); the ratios are computed here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from opsanalytics.settings import SettingsError

DEFAULT_AVAILABILITY_TARGET: Final = 0.995
DEFAULT_LATENCY_THRESHOLD_MS: Final = 1000.0
DEFAULT_LATENCY_TARGET: Final = 0.95


@dataclass(frozen=True, slots=True)
class SloObjective:
    """The objectives of one service."""

    availability_target: float = DEFAULT_AVAILABILITY_TARGET
    latency_threshold_ms: float = DEFAULT_LATENCY_THRESHOLD_MS
    latency_target: float = DEFAULT_LATENCY_TARGET

    def __post_init__(self) -> None:
        for name in ("availability_target", "latency_target"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise SettingsError(f"SLO {name} must be between 0 and 1 (exclusive), got {value!r}")
        if not self.latency_threshold_ms > 0:
            raise SettingsError(f"SLO latency_threshold_ms must be > 0, got {self.latency_threshold_ms!r}")


@dataclass(frozen=True, slots=True)
class SloConfig:
    """Default objectives and per-service overrides."""

    defaults: SloObjective = field(default_factory=SloObjective)
    services: Mapping[str, SloObjective] = field(default_factory=dict)

    def for_service(self, service: str) -> SloObjective:
        return self.services.get(service, self.defaults)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> SloConfig:
        """From the parsed ``slo.yaml`` shape: ``{defaults: {...}, services: {name: {...}}}``."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise SettingsError("SLO configuration must be a mapping with 'defaults' and 'services'")
        unknown = set(raw) - {"defaults", "services"}
        if unknown:
            raise SettingsError(f"SLO configuration has unknown keys: {sorted(unknown)}")
        defaults = _objective(SloObjective(), raw.get("defaults"), "defaults")
        services_raw = raw.get("services") or {}
        if not isinstance(services_raw, Mapping):
            raise SettingsError("SLO configuration 'services' must map service names to objectives")
        services = {str(name): _objective(defaults, value, f"services.{name}") for name, value in services_raw.items()}
        return cls(defaults=defaults, services=services)


_OBJECTIVE_KEYS: Final = frozenset(f.name for f in fields(SloObjective))


def _objective(base: SloObjective, raw: object, where: str) -> SloObjective:
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        raise SettingsError(f"SLO configuration {where} must be a mapping")
    unknown = set(raw) - _OBJECTIVE_KEYS
    if unknown:
        raise SettingsError(f"SLO configuration {where} has unknown keys: {sorted(unknown)}")
    values: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"SLO configuration {where}.{key} must be a number, got {value!r}")
        values[str(key)] = float(value)
    return replace(base, **values)


def load_slo_config(path: Path | None) -> SloConfig:
    """The SLO configuration in ``path`` (YAML); the built-in defaults when ``path`` is None."""
    if path is None:
        return SloConfig()
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read the SLO configuration {path}: {exc}") from None
    return SloConfig.from_mapping(raw)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide."""
    if part < 0 or whole < 0 or part > whole:
        raise ValueError(f"invalid counts: {part} of {whole}")
    return part / whole if whole else None


def availability(requests: int, failed: int) -> float | None:
    """1 - failed / requests, or None without requests."""
    failed_ratio = ratio(failed, requests)
    return None if failed_ratio is None else 1.0 - failed_ratio


def error_budget_remaining(achieved: float | None, target: float) -> float | None:
    """Fraction of the error budget ``1 - target`` left after achieving ``achieved`` (may be negative)."""
    if achieved is None:
        return None
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be between 0 and 1 (exclusive), got {target!r}")
    return 1.0 - (1.0 - achieved) / (1.0 - target)


@dataclass(frozen=True, slots=True)
class SloCounts:
    """What Spark counts per service and day."""

    requests: int
    failed: int
    timed: int
    """requests with a latency"""
    fast: int
    """timed requests within the latency threshold"""


def slo_report(counts: SloCounts, objective: SloObjective) -> dict[str, Any]:
    """The SLO fields of a service-day: achieved values, targets, met or not, budgets left."""
    achieved_availability = availability(counts.requests, counts.failed)
    attainment = ratio(counts.fast, counts.timed)
    return {
        "requests": counts.requests,
        "failed_requests": counts.failed,
        "availability": achieved_availability,
        "availability_target": objective.availability_target,
        "availability_met": None
        if achieved_availability is None
        else achieved_availability >= objective.availability_target,
        "error_budget_remaining": error_budget_remaining(achieved_availability, objective.availability_target),
        "latency_requests": counts.timed,
        "latency_fast_requests": counts.fast,
        "latency_threshold_ms": objective.latency_threshold_ms,
        "latency_target": objective.latency_target,
        "latency_attainment": attainment,
        "latency_met": None if attainment is None else attainment >= objective.latency_target,
        "latency_budget_remaining": error_budget_remaining(attainment, objective.latency_target),
    }
