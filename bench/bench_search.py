"""Time the default recipe search on the sample set (issue 10: ≤ 15 minutes on 2 CPU cores).

    python bench/bench_search.py [--out /tmp/bench_search] [extra search flags ...]

runs ``python -m genmix_core.search --data sample_data/lab --test sample_data/line --seeds 0,1,2`` (the default
grid, the offline style filter, the factory prompts) in a child process and prints: wall time, the CPU time the
search used (user + system, children included), the machine's load average before and after, the stage times
the search recorded in ``search.json`` (``timings``), the runs trained, the choice and the report-part check.

On a shared machine the wall time depends on the other jobs. ``cpu / cores`` is what the same work takes on an
idle machine of that many cores, but only when the machine was quiet: under contention the CPU time grows too
(torch threads wait by spinning; measured here: 1,056 s CPU at load 3–5, 3,532 s at load 6 for the same 41
runs), so read it together with the load average printed beside it. A rerun of the same command resumes, so remove
``--out`` first to time a fresh search.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = ["--data", "sample_data/lab", "--test", "sample_data/line", "--seeds", "0,1,2"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/bench_search", help="run folder (default /tmp/bench_search)")
    args, extra = p.parse_known_args()
    out = Path(args.out)
    if (out / "search.json").is_file():
        print(f"note: {out} holds a search already; this run resumes it (remove the folder for a fresh timing)")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genmix_core.search", *DEFAULT, *extra, "--out", str(out)],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    load_after = os.getloadavg()
    if proc.returncode != 0:
        print(f"search failed (exit {proc.returncode})")
        return proc.returncode
    search = json.loads((out / "search.json").read_text())
    cores = os.cpu_count() or 1
    print()
    print(f"cores: {cores}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)")
    print(f"wall: {wall:.0f} s ({wall / 60:.1f} min); CPU (user+sys): {cpu:.0f} s; CPU / cores: {cpu / cores:.0f} s "
          f"({cpu / cores / 60:.1f} min: the idle-machine time when the load stayed low)")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in sorted(search["timings"].items())))
    print(f"runs: {search['runs']}; recipes scored: {len(search['recipes'])}; "
          f"budget: {search['budget']['base_steps']} steps × {search['budget']['scales']}")
    report = search.get("report") or {}
    print(f"chosen: {search['chosen']}; report part ({report.get('n_photos')} photos): chosen "
          f"{(report.get('chosen') or {}).get('mean')}, reference {(report.get('baseline') or {}).get('mean')}; "
          f"verdict: {(search.get('verdict') or {}).get('call', search.get('verdict_note'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
