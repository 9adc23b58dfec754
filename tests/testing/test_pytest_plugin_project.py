"""A plugin's own project gets its checks from plain ``pytest``: the ops of its plugin only.
And the generated tests behave: a time limit naming the phase, a clean report, clear errors
for broken or conflicting plugins, and the same tests under pytest-xdist."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests import fake_dist

PYPROJECT = """
[project]
name = "cube-plug"
version = "0.1"
dependencies = ["dezero-ext"]

[project.entry-points.dezero_ext]
cube_plug = "cube_plug"
"""

HANGING = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, hookimpl

class Hang(Function):
    def forward(self, x):
        while True:
            pass

    def backward(self, gy):
        return gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("hang", Hang)]
"""


def _pytest(cwd: Path, site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(site), "CI": "true", **env}
    full.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
        check=False,
        timeout=600,
    )


def _plugin_project(tmp_path: Path, *, installed: bool = True) -> tuple[Path, Path]:
    """A throwaway plugin project (pyproject.toml with its entry point, a test file of its
    own) and a site directory where it is installed (a module and its .dist-info)."""
    project = tmp_path / "cube-plug"
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (project / "test_own.py").write_text("def test_own():\n    pass\n")
    site = tmp_path / "site"
    site.mkdir()
    if installed:
        fake_dist.install(site, "cube_plug", fake_dist.GOOD_PLUGIN)
    return project, site


def _collected(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split(" ")[0] for line in result.stdout.splitlines() if "::" in line}


def test_plain_pytest_in_a_plugin_project_checks_that_plugins_ops_only(tmp_path: Path) -> None:
    project, site = _plugin_project(tmp_path)
    result = _pytest(project, site, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _collected(result) == {
        "test_own.py::test_own",
        "dezero_ext_ops::cube[order1]",
        "dezero_ext_ops::cube[order2]",
    }
    named = _pytest(project, site, "test_own.py", "-v")  # files named: just those
    assert named.returncode == 0 and _collected(named) == {"test_own.py::test_own"}


def test_the_project_must_be_installed_to_be_checked(tmp_path: Path) -> None:
    project, site = _plugin_project(tmp_path, installed=False)
    result = _pytest(project, site)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "pip install -e ." in result.stderr and "'cube_plug'" in result.stderr
    off = _pytest(project, site, "-o", "dezero_ext_ops=false")
    assert off.returncode == 0 and "1 passed" in off.stdout


def test_one_ini_option_names_the_plugins_to_check(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_good", fake_dist.GOOD_PLUGIN)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\ndezero_ext_plugins = fake_good\n")
    result = _pytest(project, site, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _collected(result) == {"dezero_ext_ops::cube[order1]", "dezero_ext_ops::cube[order2]"}


def test_a_hanging_op_fails_its_test_naming_the_phase_and_the_rest_run(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_hang", HANGING)
    site = fake_dist.install(site, "fake_good", fake_dist.GOOD_PLUGIN)
    project = tmp_path / "project"
    project.mkdir()
    # 5 s: over 20 times what cube's checks take at 5 examples (0.2 s at most, measured); the
    # hanging op uses it all, whatever the load
    (project / "pytest.ini").write_text(
        "[pytest]\ndezero_ext_plugins =\n    fake_hang\n    fake_good\n"
        "dezero_ext_examples = 5\ndezero_ext_timeout = 5\n"
    )
    result = _pytest(project, site)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert "op 'hang' timed out after 5 s in forward (order 1" in result.stdout
    assert "--dezero-ext-timeout" in result.stdout


def test_a_failing_check_shows_the_report_as_it_is(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_bad", fake_dist.BAD_PLUGIN)
    result = _pytest(tmp_path, site, "--dezero-ext-op", "bad_cube")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = next(n for n, line in enumerate(lines) if line.startswith("gradient mismatch"))
    assert lines[head + 1].startswith("  input shapes:")  # no "E   " before the report lines
    assert any(line.startswith("import numpy as np") for line in lines[head:])


def test_conflicts_and_strict_failures_are_usage_errors_not_internal_errors(
    tmp_path: Path,
) -> None:
    source = (
        "from dezero_ext import OpDef, hookimpl\nfrom dezero_ext.ops.basic import Square\n"
        "@hookimpl\ndef dezero_ext_ops():\n    return [OpDef('square', Square)]\n"
    )
    site = fake_dist.install(tmp_path / "site", "fake_copy", source)
    conflict = _pytest(tmp_path, site, "--dezero-ext-op", "exp")
    assert conflict.returncode == 4, conflict.stdout + conflict.stderr
    assert "INTERNALERROR" not in conflict.stdout + conflict.stderr
    assert "op 'square' is declared by two plugins" in conflict.stderr
    broken = fake_dist.install(tmp_path / "broken", "fake_broken", "raise ImportError('gone')\n")
    strict = _pytest(tmp_path, broken, "--dezero-ext-op", "exp", DEZERO_EXT_STRICT_PLUGINS="1")
    assert strict.returncode == 4, strict.stdout + strict.stderr
    assert "INTERNALERROR" not in strict.stdout + strict.stderr
    assert "'fake_broken'" in strict.stderr and "gone" in strict.stderr


def test_a_plugin_that_failed_to_load_fails_a_whole_registry_run(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_broken", "raise ImportError('gone')\n")
    result = _pytest(tmp_path, site, "--dezero-ext-ops", "-k", "load or exp", "-W", "ignore")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED dezero_ext_ops::fake_broken[load]" in result.stdout
    assert "gone" in result.stdout


def test_the_generated_tests_run_under_xdist(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_good", fake_dist.GOOD_PLUGIN)
    (tmp_path / "pytest.ini").write_text("[pytest]\ndezero_ext_plugins = fake_good math\n")
    serial = _pytest(tmp_path, site, "-q", "-k", "cube or tanh")
    parallel = _pytest(tmp_path, site, "-q", "-n", "2", "-k", "cube or tanh")
    assert serial.returncode == 0 and parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert "5 passed" in serial.stdout and "5 passed" in parallel.stdout
