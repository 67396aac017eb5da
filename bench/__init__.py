"""octolb benchmarks: `make bench` (full) and `make bench-quick` (a ~2-minute subset).

Everything runs on this machine against 127.0.0.0/8 only. Each section starts what it needs
(nginx backends, `octolb up` on private ports and ranges, a reference HAProxy, wrk) and stops
every process it started, by PID, when it ends, also on failure. Raw results go to
`bench/results/<timestamp>.json`; `docs/benchmarks.md` is regenerated from them.
"""
