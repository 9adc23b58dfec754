"""``--plot PATH``: the run's ratios to NumPy, one group of bars per case, one bar per
implementation (dezero_ext, its traced rows and the peers), on a log scale with NumPy at 1.

matplotlib is optional (as for the nn toolkit's ``show_grid``): imported by name, so that the
benchmarks type-check where it is not installed, with an error naming the install otherwise.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from benchmarks.harness import REFERENCE, CaseResult

INSTALL = "pip install matplotlib"
COLORS = {
    "dezero_ext": "#1f77b4",
    "dezero_ext-traced": "#17becf",
    "dezero": "#7f7f7f",
    "autograd": "#2ca02c",
    "torch": "#d62728",
    "jax": "#9467bd",
}


def _pyplot() -> Any:
    try:  # by name: matplotlib is optional and may have no stubs where mypy runs
        importlib.import_module("matplotlib").use("Agg")  # files only, no window
        return importlib.import_module("matplotlib.pyplot")
    except ImportError:
        raise SystemExit(
            f"--plot draws with matplotlib, which is not installed: {INSTALL}"
        ) from None


def ratios(results: list[CaseResult]) -> dict[str, dict[str, float]]:
    """Per case key, each implementation's ratio of minimum times to NumPy's (the steadier
    figure on a busy machine), for the rows that ran; informational rows left out."""
    table: dict[str, dict[str, float]] = {}
    for case in results:
        row = {
            r.name: r.min_ratio
            for r in case.rows
            if r.status == "ok"
            and r.min_ratio is not None
            and r.name != REFERENCE
            and not r.name.startswith("numpy")
        }
        if row:
            table[case.key] = row
    return table


def plot(results: list[CaseResult], path: Path, title: str) -> None:
    """Draw the ratios of ``results`` into ``path`` (PNG, SVG, PDF: by its suffix)."""
    table = ratios(results)
    if not table:
        raise SystemExit("--plot: no timed results to draw (was the run --check only?)")
    plt = _pyplot()
    names = [n for n in COLORS if any(n in row for row in table.values())]
    names += sorted({n for row in table.values() for n in row} - set(names))
    keys = list(table)
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(9, 0.5 + 0.45 * len(keys) * max(2, len(names)) / 2))
    for j, name in enumerate(names):
        ys = [i + (j - (len(names) - 1) / 2) * height for i in range(len(keys))]
        values = [table[key].get(name, 0.0) for key in keys]
        bars = axes.barh(ys, values, height=height, label=name, color=COLORS.get(name))
        for bar, value in zip(bars, values, strict=True):
            if value > 0:
                axes.text(
                    value * 1.05, bar.get_y() + height / 2, f"{value:.2f}x", va="center", fontsize=6
                )
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yticks(range(len(keys)), keys)
    axes.invert_yaxis()
    axes.set_xlabel("time / hand-written NumPy in the same run (minimum times; log scale)")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
