"""``dezero-ext check --traced``: an op whose replay computes otherwise than its eager call
(a ``forward_scalar`` that differs from ``forward`` on 0-d values) passes the default check
and fails with ``--traced``, the report naming the op and what differed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext.cli import main
from tests import fake_dist

SCALAR_PLUGIN = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, hookimpl

class OffCube(Function):
    def forward(self, x):
        return np.power(x, 3, out=...)

    def forward_scalar(self, x):
        return x**3 * (1 + 2.0**-30)  # wrong on 0-d values: only a replay calls it

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * x * gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("off_cube", OffCube, domains=(Domain(-2.0, 2.0),), dtypes=("float64",))]
"""


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", "--plugin", "fake_off", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_a_wrong_replay_passes_by_default_and_fails_traced(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_off", SCALAR_PLUGIN)
    default = _run(site, "--examples", "10")
    assert default.returncode == 0, default.stdout + default.stderr
    traced = _run(site, "--examples", "10", "--traced")
    assert traced.returncode == 1, traced.stdout + traced.stderr
    out = " ".join(traced.stdout.split())
    assert "off_cube: traced and eager differ" in out
    assert "the output: largest difference" in out
    assert "1 of 1 ops FAILED" in out


def test_the_help_says_what_traced_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--traced" in text and "dezero_ext.trace of the op" in text
