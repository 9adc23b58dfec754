"""`--profile`: where our implementation spends its time, by cProfile, per case."""

from __future__ import annotations

import cProfile
import io
import pstats
import time

from benchmarks.harness import OURS, Case


def profile_case(case: Case, *, seconds: float = 1.0, top: int = 15) -> str:
    """Run our implementation of `case` under cProfile for about `seconds`; the top functions.

    cProfile's own cost inflates every Python call, so read the shares, not the times.
    """
    run = case.impls[OURS]()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-6)
    repeats = max(1, round(seconds / once))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    body = out.getvalue().strip().splitlines()
    # pstats opens with its own summary lines; keep from the header row on.
    first = next((i for i, line in enumerate(body) if line.lstrip().startswith("ncalls")), 0)
    header = f"{case.key}: {OURS}, {repeats} runs under cProfile, by own time"
    return "\n".join([header, *body[first:]])
