"""The runner: machine facts, then each section in turn within its own workspace (whose
clean-ups always run), raw JSON to bench/results/<timestamp>.json, then docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import capabilities, machine
from .workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


SECTIONS = ["dataplane", "reconfig", "controlplane", "apilatency", "failover", "scale"]


class Interrupted(BaseException):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the ~2-minute subset")
    p.add_argument("--only", default="", help="comma-separated sections to run")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    todo = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    started = time.monotonic()
    result = {"mode": "quick" if args.quick else "full", "machine": machine.facts(),
              "command": "make bench-quick" if args.quick else "make bench",
              "capabilities": capabilities.static(), "sections": {}}
    root = Path(tempfile.mkdtemp(prefix="octolb-bench-"))
    try:
        for name in todo:
            ws = Workspace(root / name, args.quick)
            ws.root.mkdir(parents=True)
            t0 = time.monotonic()
            busy0 = machine.cpu_busy()
            load0 = os.getloadavg()[0]
            ws.log(f"section {name}")
            try:
                with ws.stack:
                    out = importlib.import_module(f"bench.{name}").run(ws)
            except Interrupted:
                raise
            except Exception as exc:  # noqa: BLE001 - a section's failure is a result
                traceback.print_exc()
                out = {"error": f"{type(exc).__name__}: {exc}"}
            out["elapsed_s"] = round(time.monotonic() - t0, 1)
            busy1 = machine.cpu_busy()
            out["machine_busy_pct"] = round(100 * (busy1[0] - busy0[0])
                                            / max(1, busy1[1] - busy0[1]), 1)
            out["loadavg_start_end"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            result["sections"][name] = out
            ws.log(f"section {name} done in {out['elapsed_s']} s")
    except (Interrupted, KeyboardInterrupt) as exc:
        result["interrupted"] = str(exc) or "KeyboardInterrupt"
    finally:
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-{result['mode']}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"raw results: {path.relative_to(ROOT)}", file=sys.stderr)
    if not args.no_docs:
        from . import report
        doc = report.write(ROOT / "docs" / "benchmarks.md", RESULTS)
        print(f"report: {doc.relative_to(ROOT)}", file=sys.stderr)
    return 0
