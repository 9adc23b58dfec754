"""``dezero-ext check --stress``: an installed op wrong only past the first 4096 elements (a
chunked kernel that drops its later blocks) passes the default run and fails under
``--stress``, with a report that names the stress case and the command to run it again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext.cli import main
from tests import fake_dist

CHUNKED_PLUGIN = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, Variable, hookimpl

class ChunkedCube(Function):
    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        (x,) = self.inputs
        first = (np.arange(x.size) < 4096).reshape(x.shape).astype(x.dtype)
        return 3 * x * x * gy * Variable(first)  # 0 past the first block

@hookimpl
def dezero_ext_ops():
    return [OpDef("chunked_cube", ChunkedCube, domains=(Domain(-2.0, 2.0),))]
"""


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", "--plugin", "fake_chunked", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_chunked_kernel_passes_by_default_and_fails_under_stress(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_chunked", CHUNKED_PLUGIN)
    default = _run(site, "--examples", "10")
    assert default.returncode == 0, default.stdout + default.stderr
    stress = _run(site, "--stress")
    assert stress.returncode == 1, stress.stdout + stress.stderr
    out = stress.stdout
    assert "gradient mismatch: op 'chunked_cube' (plugin 'fake_chunked'), order 1" in out
    assert "variant:       stress: (16389,)" in out
    assert "reproduce:     dezero-ext check chunked_cube --stress --order 1" in out
    assert "1 of 1 ops FAILED" in out


def test_the_help_says_what_stress_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--stress" in text and "over 10^4 elements" in text
    assert "passed as constants" in text and "size-0 dimensions" in text
