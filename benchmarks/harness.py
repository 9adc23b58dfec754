"""Timing, peak memory and correctness checks shared by every workload.

A workload is a list of `Case`s. A case holds one hand-written NumPy reference and the
implementations compared with it (ours and the peers). Each implementation is a `Builder`:
called once, untimed, it prepares its inputs and returns a `Run`, which does one complete
forward + backward (+ update) and returns the gradients as NumPy arrays.

The reference's result is the correctness check: an implementation whose gradients disagree
with it is reported as failed and gets no time.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Grads = Mapping[str, Array]
Run = Callable[[], Grads]
Builder = Callable[[], Run]

REFERENCE = "numpy"
OURS = "dezero_ext"


class UnavailableError(Exception):
    """An implementation cannot run here (a peer or one of our plugins is not installed)."""


class MismatchError(Exception):
    """An implementation's gradients differ from the NumPy reference."""


@dataclass(frozen=True)
class Case:
    """One measured configuration of a workload, e.g. W2 with 20,000 ops."""

    workload: str
    key: str
    title: str
    reference: Builder
    impls: Mapping[str, Builder]
    rtol: float
    rounds: int
    ops: int = 0
    """When positive, times are also reported per op (time / ops)."""
    min_sample_s: float = 0.0
    """A sample repeats the run until it lasts this long (for runs near timer resolution)."""
    measure_memory: bool = True
    informational: frozenset[str] = frozenset()
    """Implementations shown for context only (e.g. NumPy on scalars), never a target."""
    forward_impls: Mapping[str, Builder] = field(default_factory=dict)
    """Forward-only runs, by implementation name (``numpy`` for the reference): timed in the
    same rounds, so the report splits each time into forward and backward."""
    memory: Callable[[str], int | None] | None = None
    """When given, each implementation's peak memory by name (measured its own way, e.g. in a
    fresh process, torch included) instead of tracemalloc's."""


@dataclass
class ImplResult:
    name: str
    status: str
    """"ok", "skipped" (not installed) or "failed" (error or wrong gradients)."""
    reason: str = ""
    times: list[float] = field(default_factory=list)
    """Seconds per run, one per round."""
    forward_times: list[float] = field(default_factory=list)
    """Seconds per forward-only run, one per round (when the case has forward runs)."""
    peak_bytes: int | None = None
    ratio: float | None = None
    """Median time / the reference's median time."""
    min_ratio: float | None = None
    """Fastest time / the reference's fastest: steadier than `ratio` on a busy machine."""
    peak_ratio: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def forward_median(self) -> float | None:
        return statistics.median(self.forward_times) if self.forward_times else None

    @property
    def backward_median(self) -> float | None:
        """The median run minus the median forward run: the backward's share."""
        forward = self.forward_median
        return None if forward is None else max(self.median - forward, 0.0)


@dataclass
class CaseResult:
    workload: str
    key: str
    title: str
    ops: int
    rows: list[ImplResult]
    memory_note: str = ""

    def row(self, name: str) -> ImplResult | None:
        for result in self.rows:
            if result.name == name and result.status == "ok":
                return result
        return None


def compare(name: str, got: Grads, want: Grads, rtol: float) -> str:
    """Raise `MismatchError` unless `got` matches `want`; return a note about dtype changes.

    The error of each array is its largest absolute difference divided by the largest
    magnitude in the reference array, so tolerances do not depend on the scale.
    Our framework must also keep the reference's dtype; a peer that changes it gets a note.
    """
    notes: list[str] = []
    for key, ref in want.items():
        if key not in got:
            raise MismatchError(f"no result named {key!r}")
        arr = np.asarray(got[key])
        if arr.shape != ref.shape:
            raise MismatchError(f"{key}: shape {arr.shape}, reference {ref.shape}")
        if arr.dtype != ref.dtype:
            if name == OURS:
                raise MismatchError(f"{key}: dtype {arr.dtype}, reference {ref.dtype}")
            notes.append(f"returns {arr.dtype}")
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        diff = np.abs(arr.astype(np.float64) - ref.astype(np.float64))
        err = float(np.max(diff)) if diff.size else 0.0
        if not math.isfinite(err) or err > rtol * max(scale, 1e-300):
            raise MismatchError(f"{key}: max error {err:.3g} vs scale {scale:.3g} (rtol {rtol:g})")
    return ", ".join(sorted(set(notes)))


def _time_once(run: Run, number: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(number):
        run()
    return (time.perf_counter() - start) / number


def _peak_memory(run: Run) -> int:
    """Peak bytes allocated (and traced) during one run, above what existed before it."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def _time_rounds(
    case: Case,
    runs: dict[str, Run],
    results: dict[str, ImplResult],
    n_rounds: int,
    forward_runs: dict[str, Run],
) -> None:
    timed: list[tuple[str, Run, list[float]]] = [
        (name, run, results[name].times) for name, run in runs.items()
    ]
    timed += [(name, run, results[name].forward_times) for name, run in forward_runs.items()]
    numbers = []
    for _, run, _ in timed:
        first = _time_once(run, 1)
        numbers.append(max(1, math.ceil(case.min_sample_s / max(first, 1e-9))))
    order = list(range(len(timed)))
    for r in range(n_rounds):
        shift = r % len(order)
        for i in order[shift:] + order[:shift]:
            timed[i][2].append(_time_once(timed[i][1], numbers[i]))
    if case.memory is not None:
        for name in runs:
            results[name].peak_bytes = case.memory(name)
    elif case.measure_memory:
        for name, run in runs.items():
            if not name.startswith("torch"):  # torch's allocator is invisible to tracemalloc
                results[name].peak_bytes = _peak_memory(run)


def run_case(
    case: Case,
    *,
    rounds: int | None = None,
    check_only: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> CaseResult:
    """Check every implementation against the reference, then time them interleaved.

    Rounds interleave the implementations (in a rotating order) so that machine noise
    spreads over all of them; the reported time is the median over rounds.
    """
    builders: dict[str, Builder] = {REFERENCE: case.reference, **case.impls}
    results: dict[str, ImplResult] = {}
    runs: dict[str, Run] = {}

    reference_run = case.reference()
    want = {k: np.array(v, copy=True) for k, v in reference_run().items()}
    runs[REFERENCE] = reference_run
    results[REFERENCE] = ImplResult(REFERENCE, "ok")

    for name, builder in case.impls.items():
        try:
            run = builder()
            note = compare(name, run(), want, case.rtol)
        except UnavailableError as exc:
            results[name] = ImplResult(name, "skipped", reason=str(exc))
            log(f"  {case.key} {name}: skipped ({exc})")
            continue
        except MismatchError as exc:
            results[name] = ImplResult(name, "failed", reason=f"wrong result: {exc}")
            log(f"  {case.key} {name}: FAILED, {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a crash is a result to report, not to raise
            results[name] = ImplResult(name, "failed", reason=f"{type(exc).__name__}: {exc}")
            log(f"  {case.key} {name}: FAILED, {type(exc).__name__}: {exc}")
            continue
        runs[name] = run
        if name in case.informational:
            note = ", ".join(filter(None, ["context only, not a peer", note]))
        results[name] = ImplResult(name, "ok", note=note)

    if not check_only:
        # Move every object alive now (imported modules, inputs) out of the collector's
        # sight: the collections during a run then cost what they would in a process that
        # imported only this framework, and gc.collect() before each sample stays cheap.
        gc.collect()
        gc.freeze()
        try:
            forward_runs = {
                name: builder()
                for name, builder in case.forward_impls.items()
                if name in runs  # skipped and failed implementations have no forward row
            }
            n_rounds = rounds if rounds is not None else case.rounds
            _time_rounds(case, runs, results, n_rounds, forward_runs)
        finally:
            gc.unfreeze()
        ref = results[REFERENCE]
        for result in results.values():
            if result.status != "ok":
                continue
            result.ratio = result.median / ref.median
            result.min_ratio = min(result.times) / min(ref.times)
            if result.peak_bytes is not None and ref.peak_bytes:
                result.peak_ratio = result.peak_bytes / ref.peak_bytes

    order = [name for name in builders if name in results]
    return CaseResult(
        workload=case.workload,
        key=case.key,
        title=case.title,
        ops=case.ops,
        rows=[results[name] for name in order],
    )
