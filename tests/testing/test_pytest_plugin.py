"""The pytest11 plugin: an installed op plugin gets its gradient checks with no test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import fake_dist


def _pytest(cwd: Path, site: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "CI": "true"}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    env.update(extra)
    if not env["CI"]:  # Hypothesis loads its ci profile when CI is set at all
        del env["CI"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _project(tmp_path: Path, name: str, source: str) -> tuple[Path, Path]:
    site = fake_dist.install(tmp_path / "site", name, source)
    project = tmp_path / "project"
    project.mkdir()
    return project, site


def test_a_plugin_without_test_files_gets_a_test_per_order(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _pytest(project, site, "--dezero-ext-plugin", "fake_good", "-vv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dezero_ext_ops::cube[order1] PASSED" in result.stdout
    assert "dezero_ext_ops::cube[order2] PASSED" in result.stdout
    assert "2 passed" in result.stdout


def test_a_wrong_op_fails_with_the_report(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_bad", fake_dist.BAD_PLUGIN)
    result = _pytest(project, site, "--dezero-ext-op", "bad_cube")
    assert result.returncode == 1
    assert "FAILED dezero_ext_ops::bad_cube[order1]" in result.stdout
    assert "gradient mismatch: op 'bad_cube' (plugin 'fake_bad')" in result.stdout
    assert "sign flipped" in result.stdout


def test_the_ini_option_adds_checks_only_on_default_paths(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    (project / "pytest.ini").write_text("[pytest]\ndezero_ext_ops = true\n")
    (project / "test_one.py").write_text("def test_one():\n    pass\n")
    everything = _pytest(project, site, "-k", "cube or one")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "3 passed" in everything.stdout
    one_file = _pytest(project, site, "test_one.py")
    assert "1 passed" in one_file.stdout and "cube" not in one_file.stdout


def test_nothing_is_added_unless_asked(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _pytest(project, site)
    assert result.returncode == 5  # no tests collected


def test_statistics_on_request(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _pytest(
        project,
        site,
        "--dezero-ext-op",
        "cube",
        "--hypothesis-show-statistics",
        "--dezero-ext-examples",
        "7",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dezero_ext_ops::cube[order1]:" in result.stdout
    # Hypothesis words its statistics differently across versions
    assert "7 passing examples" in result.stdout or "max_examples=7" in result.stdout
    assert "dtype float32" in result.stdout


def test_unknown_op_is_a_usage_error(tmp_path: Path) -> None:
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _pytest(project, site, "--dezero-ext-op", "cubee")
    assert result.returncode == 4
    assert "did you mean 'cube'" in result.stdout + result.stderr


def test_every_registered_op_gets_a_test_per_declared_order(tmp_path: Path) -> None:
    from dezero_ext import get_registry

    site = tmp_path / "empty-site"
    site.mkdir()
    result = _pytest(tmp_path, site, "--dezero-ext-ops", "--collect-only")
    collected = {line.strip() for line in result.stdout.splitlines() if "::" in line}
    expected = {
        f"dezero_ext_ops::{name}[order{k}]"
        for name, op in get_registry().ops().items()
        for k in range(1, op.order + 1)
    }
    assert collected == expected


def test_nothing_is_written_into_the_working_directory(tmp_path: Path) -> None:
    # Hypothesis's example database and its cache of constants go to ~/.cache/dezero-ext (here
    # $XDG_CACHE_HOME), not .hypothesis/ in the project, unless the user says where.
    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "CI": ""}  # no ci profile: it has no database
    # Other installed pytest plugins may write here on any run (pytest-benchmark makes
    # .benchmarks/): what a run with dezero_ext's pytest plugins blocked leaves in an empty
    # directory is theirs.
    control = tmp_path / "control"
    control.mkdir()
    blocked = ("-p", "no:dezero_ext", "-p", "no:dezero_ext_layers")
    assert _pytest(control, site, *blocked, **env).returncode == 5  # collected nothing
    theirs = {path.name for path in control.iterdir()}
    result = _pytest(project, site, "--dezero-ext-plugin", "fake_good", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.name for path in project.iterdir() if path.name not in theirs) == []
    assert (cache / "dezero-ext" / "hypothesis" / "constants").is_dir()
    asked = _pytest(
        project,
        site,
        "--dezero-ext-plugin",
        "fake_good",
        HYPOTHESIS_STORAGE_DIRECTORY="here",
        **env,
    )
    assert asked.returncode == 0 and (project / "here").is_dir()


def test_the_python_api_writes_nothing_into_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "from dezero_ext import get_registry\n"
        "from dezero_ext.testing import CheckOptions, check_op\n"
        "assert check_op(get_registry().get('exp'), CheckOptions(examples=3)).passed\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    subprocess.run([sys.executable, "-c", script], cwd=work, env=env, check=True)
    assert list(work.iterdir()) == []
