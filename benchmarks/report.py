"""The printed table, the JSON file, and the targets (issues 5 and 12) evaluated on the
results."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import OURS, REFERENCE, CaseResult, ImplResult


def _time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB"


def _row(case: CaseResult, result: ImplResult) -> str:
    name = f"{result.name:<13}"
    if result.status != "ok":
        return f"  {name}{result.status}: {result.reason}"
    times = result.times
    if not times:
        return f"  {name}ok (correctness only){'  ' + result.note if result.note else ''}"
    med, lo, hi = statistics.median(times), min(times), max(times)
    per_op = f"{med / case.ops * 1e6:7.2f} µs/op" if case.ops else ""
    forward, backward = result.forward_median, result.backward_median
    if case.ops and forward is not None and backward is not None:
        per_op += f" (fwd {forward / case.ops * 1e6:.2f}, bwd {backward / case.ops * 1e6:.2f})"
    ratio = f"{result.ratio:6.2f}x" if result.ratio is not None else "     - "
    ratio += f" {result.min_ratio:6.2f}x" if result.min_ratio is not None else "       "
    peak = _bytes(result.peak_bytes)
    if result.peak_ratio is not None:
        peak += f" ({result.peak_ratio:.2f}x)"
    text = (
        f"  {name}{_time(med):>10}  {_time(lo):>9} .. {_time(hi):<9} {ratio}  {per_op:>14}  {peak}"
    )
    return text + (f"  [{result.note}]" if result.note else "")


def format_table(results: list[CaseResult]) -> str:
    lines = [
        "  implementation   median   min .. max            ratio  (mins)       per op  peak memory",
    ]
    for case in results:
        lines.append(f"{case.key}: {case.title}")
        lines.extend(_row(case, result) for result in case.rows)
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    workload: str
    text: str
    status: str
    """"met", "NOT met" or "not measured"."""
    value: str


def _ours(results: list[CaseResult], key: str) -> ImplResult | None:
    for case in results:
        if case.key == key:
            return case.row(OURS)
    return None


def _peer(results: list[CaseResult], key: str, name: str) -> ImplResult | None:
    for case in results:
        if case.key == key:
            return case.row(name)
    return None


def _per_op(results: list[CaseResult], key: str, name: str) -> float | None:
    for case in results:
        row = case.row(name) if case.key == key else None
        if row is not None and row.times and case.ops:
            return row.median / case.ops
    return None


def _check(workload: str, text: str, value: float | None, limit: float, fmt: str) -> Target:
    if value is None:
        return Target(workload, text, "not measured", "-")
    return Target(workload, text, "met" if value <= limit else "NOT met", fmt.format(value))


def _faster_peer(results: list[CaseResult], key: str, names: tuple[str, ...]) -> float | None:
    times = [row.median for name in names if (row := _peer(results, key, name)) and row.times]
    return min(times) if times else None


def _w1_targets(results: list[CaseResult]) -> list[Target]:
    ours, auto = _per_op(results, "W1", OURS), _per_op(results, "W1", "autograd")
    targets = [
        _check("W1", "≤ 6 µs per op", None if ours is None else ours * 1e6, 6.0, "{:.2f} µs/op"),
        _check(
            "W1",
            "≤ 0.5x autograd's per-op time",
            None if ours is None or auto is None else ours / auto,
            0.5,
            "{:.2f}x",
        ),
    ]
    row = _ours(results, "W1-transc")
    peer = _faster_peer(results, "W1-transc", ("torch", "autograd"))
    value = None if row is None or peer is None else row.median / peer
    targets.append(_check("W1", "transc ≤ 0.5x faster of torch, autograd", value, 0.5, "{:.2f}x"))
    return targets


def _w2_targets(results: list[CaseResult]) -> list[Target]:
    short, long = _ours(results, "W2-20k"), _ours(results, "W2-100k")
    growth = (
        None if short is None or long is None or not short.times else long.median / short.median
    )
    targets = [
        Target("W2", "100,000 ops works", "met" if long is not None else "NOT met", ""),
        _check("W2", "100k / 20k time ≤ 5.2", growth, 5.2, "{:.2f}"),
    ]
    peer = _faster_peer(results, "W2-20k", ("dezero", "autograd", "torch"))
    if short is not None and peer is not None:
        targets.append(_check("W2", "20k ahead of every peer", short.median / peer, 1.0, "{:.2f}x"))
    zero_d = _peer(results, "W2-20k", "numpy-0d")
    if short is not None and zero_d is not None and zero_d.times:
        vs_0d = short.median / zero_d.median
        targets.append(_check("W2", "20k ≤ 10x NumPy on 0-d arrays", vs_0d, 10.0, "{:.2f}x"))
    return targets


def _w3_to_w5_targets(results: list[CaseResult], keys: set[str]) -> list[Target]:
    targets: list[Target] = []
    for key in ("W3-float32", "W3-float64"):
        if key in keys:
            row = _ours(results, key)
            ratio = row.ratio if row else None
            targets.append(_check("W3", f"{key[3:]} ≤ 1.05x NumPy", ratio, 1.05, "{:.2f}x"))
    if "W4" in keys:
        row = _ours(results, "W4")
        targets.append(
            _check("W4", "time ≤ 1.1x NumPy", row.ratio if row else None, 1.1, "{:.2f}x")
        )
        peak = row.peak_ratio if row else None
        targets.append(_check("W4", "peak memory ≤ 1.4x NumPy", peak, 1.4, "{:.2f}x"))
    if "W5" in keys:
        row, torch = _ours(results, "W5"), _peer(results, "W5", "torch")
        if torch is not None and torch.ratio is not None:
            text, limit = f"≤ torch's ratio ({torch.ratio:.2f}x)", torch.ratio
        else:
            text, limit = "≤ 8x NumPy (torch absent)", 8.0
        targets.append(_check("W5", text, row.ratio if row else None, limit, "{:.2f}x"))
    return targets


def _w8_w9_targets(results: list[CaseResult], keys: set[str]) -> list[Target]:
    """Issue 20: the Hessian (W8) and the JVP (W9) no slower than torch.func."""
    targets: list[Target] = []
    for key in ("W8", "W9"):
        if key in keys:
            row, torch = _ours(results, key), _peer(results, key, "torch")
            if torch is not None and torch.ratio is not None:
                text = f"≤ torch.func's ratio ({torch.ratio:.2f}x, issue 20)"
                targets.append(
                    _check(key, text, row.ratio if row else None, torch.ratio, "{:.2f}x")
                )
    return targets


def _w10_targets(results: list[CaseResult]) -> list[Target]:
    """Issue 22: each W10 case ≤ 1.0x torch's time and ≤ 1.2x its peak memory."""
    targets: list[Target] = []
    for case in results:
        ours, torch = case.row(OURS), case.row("torch")
        if case.workload != "W10" or ours is None or torch is None or not torch.times:
            continue
        name = case.key[4:]
        targets.append(
            _check("W10", f"{name} ≤ 1.0x torch", ours.median / torch.median, 1.0, "{:.2f}x")
        )
        if ours.peak_bytes and torch.peak_bytes:
            peak = ours.peak_bytes / torch.peak_bytes
            targets.append(_check("W10", f"{name} peak ≤ 1.2x torch", peak, 1.2, "{:.2f}x"))
    return targets


def evaluate_targets(results: list[CaseResult]) -> list[Target]:
    """The targets of issues 5, 11 (W7), 12 and 20 (W8, W9), for the workloads that ran."""
    keys = {case.key for case in results}
    targets: list[Target] = []
    if "W1" in keys:
        targets += _w1_targets(results)
    if {"W2-20k", "W2-100k"} <= keys:
        targets += _w2_targets(results)
    targets += _w3_to_w5_targets(results, keys)
    if "W6-import" in keys:
        row = _ours(results, "W6-import")
        targets.append(
            _check("W6", "import ≤ 1.3x import numpy", row.ratio if row else None, 1.3, "{:.2f}x")
        )
        reg = _ours(results, "W6-registry")
        ms = reg.median * 1e3 if reg is not None and reg.times else None
        targets.append(_check("W6", "first get_registry() < 100 ms", ms, 100.0, "{:.1f} ms"))
    targets += _w8_w9_targets(results, keys)
    if "W7" in keys:
        row = _ours(results, "W7")
        targets.append(
            _check(
                "W7", "epoch ≤ 1.2x NumPy (issue 11)", row.ratio if row else None, 1.2, "{:.2f}x"
            )
        )
    return targets + _w10_targets(results)


def format_targets(targets: list[Target]) -> str:
    lines = ["Targets (issues 5, 11, 12 and 20):"]
    for t in targets:
        lines.append(f"  {t.workload}  {t.text:<42} {t.status:<13} {t.value}")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    import os

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    from importlib import metadata

    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    )
    env["commit"] = git.stdout.strip() if git.returncode == 0 else None
    for dist in ("dezero-ext", "dezero", "autograd", "torch"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = None
    return env


def write_json(
    path: Path, results: list[CaseResult], targets: list[Target], options: dict[str, Any]
) -> None:
    def row(case: CaseResult, r: ImplResult) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": r.name,
            "status": r.status,
            "reason": r.reason,
            "note": r.note,
            "times_s": r.times,
            "ratio": r.ratio,
            "min_ratio": r.min_ratio,
            "peak_bytes": r.peak_bytes,
            "peak_ratio": r.peak_ratio,
        }
        if r.times:
            out |= {"median_s": r.median, "min_s": min(r.times), "max_s": max(r.times)}
            if case.ops:
                out["median_per_op_s"] = r.median / case.ops
        if r.forward_times:
            out["forward_times_s"] = r.forward_times
            out["forward_median_s"] = r.forward_median
            out["backward_median_s"] = r.backward_median
        return out

    data = {
        "environment": environment(),
        "options": options,
        "reference": REFERENCE,
        "peak_memory": "tracemalloc peak during one run: Python objects and NumPy buffers "
        "allocated in the run (torch's own allocator is not traced)",
        "cases": [
            {
                "workload": c.workload,
                "key": c.key,
                "title": c.title,
                "ops": c.ops,
                "results": [row(c, r) for r in c.rows],
            }
            for c in results
        ],
        "targets": [t.__dict__ for t in targets],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
