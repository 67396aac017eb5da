"""Summaries: median with min–max over rounds, and percentiles of latency samples."""

from __future__ import annotations

import statistics


def summary(values: list[float]) -> dict | None:
    """{"median", "min", "max", "n"} of the values, or None when there are none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals)}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b
