"""The controller's own Prometheus metrics, in the text exposition format (no dependency):
counters and duration summaries kept in memory by the process that serves /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict

_lock = threading.Lock()
_counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
_summaries: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(
    lambda: [0.0, 0.0]))
_help: dict[str, str] = {}


def _key(labels: dict[str, str]) -> tuple:
    return tuple(sorted(labels.items()))


def inc(name: str, help_: str, amount: float = 1.0, **labels: str) -> None:
    with _lock:
        _help.setdefault(name, help_)
        _counters[name][_key(labels)] += amount


def observe(name: str, help_: str, value: float, **labels: str) -> None:
    with _lock:
        _help.setdefault(name, help_)
        entry = _summaries[name][_key(labels)]
        entry[0] += 1
        entry[1] += value


def _labels(key: tuple, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in key]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(gauges: dict[str, tuple[str, dict[tuple, float]]] | None = None) -> str:
    """All metrics; `gauges` are computed by the caller at scrape time (name → help, values)."""
    out: list[str] = []
    with _lock:
        for name in sorted(_counters):
            out += [f"# HELP {name} {_help[name]}", f"# TYPE {name} counter"]
            out += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(_counters[name].items())]
        for name in sorted(_summaries):
            out += [f"# HELP {name} {_help[name]}", f"# TYPE {name} summary"]
            for k, (count, total) in sorted(_summaries[name].items()):
                out += [f"{name}_count{_labels(k)} {count:g}", f"{name}_sum{_labels(k)} {total:g}"]
    for name, (help_, values) in sorted((gauges or {}).items()):
        out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        out += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(values.items())]
    return "\n".join(out) + "\n"


def reset() -> None:
    """For tests."""
    with _lock:
        _counters.clear()
        _summaries.clear()
