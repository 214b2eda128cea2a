"""Medians with IQR per system, overall and per category / pair kind, and the targets they must meet."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .item_metrics import MORPH_METRICS, RECONSTRUCTION_METRICS
from .systems import MEL_GL_44K, OURS, PREVIOUS


def stats(values: Iterable[float]) -> dict[str, float | int | None]:
    """``count`` of finite values, their ``median``, ``q1`` and ``q3`` (25th/75th percentiles) and
    ``mean`` (for 0/1 metrics: the fraction of items that pass); ``None`` when there is none."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"count": 0, "median": None, "q1": None, "q3": None, "mean": None}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {
        "count": int(finite.size),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(finite.mean()),
    }


def _group_stats(rows: list[dict], names: Sequence[str], group: Callable[[dict], str]) -> dict:
    systems = sorted({s for r in rows for s in r["systems"]}, key=_system_order)
    out: dict = {}
    for system in systems:
        with_system = [r for r in rows if system in r["systems"]]
        out[system] = {"all": {m: stats(r["systems"][system].get(m) for r in with_system) for m in names}, "groups": {}}
        for key in sorted({group(r) for r in with_system}):
            members = [r for r in with_system if group(r) == key]
            out[system]["groups"][key] = {m: stats(r["systems"][system].get(m) for r in members) for m in names}
    return out


def _system_order(name: str) -> tuple[int, str]:
    return ({OURS: 0, PREVIOUS: 1}.get(name, 2), name)


def summarise(clip_rows: list[dict], pair_rows: list[dict]) -> dict:
    """Medians with IQR per system: ``reconstruction[system]["all" | "groups"][category][metric]``
    and ``morph[system]["all" | "groups"][pair kind][metric]``."""
    return {
        "reconstruction": _group_stats(clip_rows, RECONSTRUCTION_METRICS, lambda r: r["category"]),
        "morph": _group_stats(pair_rows, MORPH_METRICS, lambda r: r["kind"]),
    }


@dataclasses.dataclass(frozen=True)
class Target:
    """``system``'s ``statistic`` (``median``, or ``mean``: the passing fraction of a 0/1 metric) of
    ``metric`` over ``scope`` (``all`` or a pair kind) must be ``≤`` or ``≥`` ``threshold`` (a
    number, or the same statistic of system ``relative_to``)."""

    name: str
    section: str
    metric: str
    op: str
    threshold: float | None = None
    relative_to: str | None = None
    scope: str = "all"
    statistic: str = "median"


#: The targets of issue 9 (the decoder's frame-periodic buzz and exact endpoints).
TARGETS = (
    Target("reconstruction MR-STFT ≤ mel+GL 44.1 kHz/128", "reconstruction", "mrstft", "≤", relative_to=MEL_GL_44K),
    Target("log-spectral distance ≤ 6 dB", "reconstruction", "lsd_db", "≤", 6.0),
    Target(
        "no frame-rate comb or periodicity on every clip",
        "reconstruction",
        "no_frame_periodicity",
        "≥",
        1.0,
        statistic="mean",
    ),
    Target(
        "pitched clips within 25 cents on ≥ 90 %", "reconstruction", "f0_within_25_cents", "≥", 0.9, statistic="mean"
    ),
    Target("endpoint MR-STFT ≤ 0.02", "morph", "endpoint_mrstft", "≤", 0.02),
    Target("attack-time R² ≥ 0.85", "morph", "attack_r2", "≥", 0.85),
    Target("doubling at t=0.5 on pitched pairs ≤ 0.15", "morph", "doubling", "≤", 0.15, scope="pitched"),
    Target("centroid R² ≥ 0.9", "morph", "centroid_r2", "≥", 0.9),
    Target("loudness R² ≥ 0.9", "morph", "loudness_r2", "≥", 0.9),
    Target("step smoothness ≤ 1.5", "morph", "step_smoothness", "≤", 1.5),
    Target("largest step ≤ 1.5 × the median step", "morph", "step_max_over_median", "≤", 1.5),
)


def _statistic(
    summary: dict, section: str, system: str, metric: str, scope: str, statistic: str = "median"
) -> float | None:
    entry = summary[section].get(system, {})
    group = entry.get("all") if scope == "all" else entry.get("groups", {}).get(scope)
    return (group or {}).get(metric, {}).get(statistic)


def check_targets(summary: dict) -> list[dict]:
    """Each of :data:`TARGETS` for system ``ours``: ``name``, ``value`` (median), ``threshold``,
    ``met`` (``None`` when either side could not be measured, e.g. no pitched pair or no
    baseline)."""
    results = []
    for target in TARGETS:
        value = _statistic(summary, target.section, OURS, target.metric, target.scope, target.statistic)
        threshold = (
            _statistic(summary, target.section, target.relative_to, target.metric, target.scope, target.statistic)
            if target.relative_to
            else target.threshold
        )
        met = (
            None
            if value is None or threshold is None
            else (value <= threshold if target.op == "≤" else value >= threshold)
        )
        results.append(
            {
                "name": target.name,
                "metric": target.metric,
                "scope": target.scope,
                "op": target.op,
                "value": value,
                "threshold": threshold,
                "met": met,
            }
        )
    return results
