"""``dezero-ext check -j 1`` against ``-j N`` (issue 22: ``-j N`` never slower than ``-j 1``
on a loaded machine), in ABBA order, with the load average: the wall time and the CPU time
of every process of the command's session, read from /proc every 0.1 s (the workers are the
forkserver's children, which ``/usr/bin/time`` would not count). Linux only.

    python -m benchmarks.check_jobs 2            # the whole registry: -j 1, -j 2, -j 2, -j 1
    python -m benchmarks.check_jobs auto exp sin --examples 5
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _session_cpu(sid: int) -> dict[int, float]:
    """Each live process of session ``sid``: its own CPU time in seconds (user + system)."""
    cpu = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == sid:  # state, ppid, pgrp, session; utime, stime at 11, 12
            cpu[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    return cpu


def run(jobs: str, args: list[str]) -> str:
    """One ``dezero-ext check ARGS -j JOBS`` under ``CI=true``: a line of figures."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dezero_ext", "check", *args, "-j", jobs],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "CI": "true"},
    )
    seen: dict[int, float] = {}
    while process.poll() is None:
        for pid, cpu in _session_cpu(process.pid).items():
            seen[pid] = max(seen.get(pid, 0.0), cpu)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    return (
        f"-j {jobs:<4} exit {process.returncode}  wall {wall:6.1f} s  CPU {sum(seen.values()):6.1f}"
        f" s  processes {len(seen)}  load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )


def main(argv: list[str]) -> None:
    jobs, *args = argv or ["2"]
    for each in ("1", jobs, jobs, "1"):
        print(run(each, args), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
