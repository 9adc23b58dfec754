"""The benchmark suite still runs and our results still agree with its NumPy references.

Nothing here is timed: speed is measured by `python -m benchmarks`, never asserted in tests.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from benchmarks import chain, cnn, forward_mode, higher_order, mlp, plot, train_epoch, wide
from benchmarks.harness import (
    OURS,
    REFERENCE,
    Case,
    CaseResult,
    Grads,
    ImplResult,
    Run,
    run_case,
)

TRACED = "dezero_ext-traced"


def _ours_only(case: Case) -> Case:
    """The case without the peers, which are not the project's business in its tests (our
    traced row stays where the case has one)."""
    ours = {name: impl for name, impl in case.impls.items() if name in (OURS, TRACED)}
    return dataclasses.replace(case, impls=ours)


SMOKE_CASES = [
    *chain.w1_cases(quick=True),
    *wide.w4_cases(quick=True, size=1000),
    *higher_order.w5_cases(quick=True),
    *mlp.w3_cases(quick=True),  # float32 must stay float32: the check compares dtypes too
    *train_epoch.w7_cases(quick=True),  # one epoch through DataLoader, MLP and Adam
    *forward_mode.w8_cases(quick=True),  # a Hessian by func.hessian
    *forward_mode.w9_cases(quick=True),  # a JVP by func.jvp through 1000 ops
    *cnn.w10_cases(quick=True),  # conv2d, deconv2d and both poolings, batch 8, both dtypes
]


@pytest.mark.parametrize("case", SMOKE_CASES, ids=lambda case: case.key)
def test_dezero_ext_agrees_with_the_numpy_reference(case: Case) -> None:
    result = run_case(_ours_only(case), check_only=True)
    statuses = {row.name: (row.status, row.reason) for row in result.rows}
    assert statuses[OURS] == ("ok", ""), statuses
    assert statuses.get(TRACED, ("ok", "")) == ("ok", ""), statuses
    assert statuses[REFERENCE] == ("ok", "")


def test_a_wrong_gradient_fails_instead_of_getting_a_time() -> None:
    (case,) = wide.w4_cases(quick=True, size=1000)

    def off_by_one_percent() -> Run:
        run = case.impls[OURS]()

        def wrong() -> Grads:
            return {key: value * np.float32(1.01) for key, value in run().items()}

        return wrong

    result = run_case(dataclasses.replace(case, impls={OURS: off_by_one_percent}), rounds=1)
    (ours,) = [row for row in result.rows if row.name == OURS]
    assert ours.status == "failed"
    assert "wrong result" in ours.reason
    assert ours.times == []
    assert ours.ratio is None


def test_plot_draws_the_ratios_or_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        ImplResult(REFERENCE, "ok", times=[1.0], min_ratio=1.0),
        ImplResult(OURS, "ok", times=[2.0], min_ratio=2.0),
        ImplResult("torch", "ok", times=[4.0], min_ratio=4.0),
        ImplResult("autograd", "skipped", reason="not installed"),
    ]
    results = [CaseResult("W1", "W1", "a chain", 1000, rows)]
    assert plot.ratios(results) == {"W1": {OURS: 2.0, "torch": 4.0}}
    if importlib.util.find_spec("matplotlib") is not None:
        path = tmp_path / "ratios.png"
        plot.plot(results, path, "title")
        assert path.read_bytes().startswith(b"\x89PNG")

    def missing(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(SystemExit, match="pip install matplotlib"):
        plot.plot(results, tmp_path / "never.png", "title")
