"""``dezero-ext check``: selection, table, JSON, exit status, and a failing third-party op."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext.cli import main
from tests import fake_dist


def test_check_named_ops_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "exp", "add", "--examples", "5"]) == 0
    captured = capsys.readouterr()
    header, _rule, *rows = captured.out.splitlines()
    assert header.split() == [
        "op",
        "plugin",
        "orders",
        "examples",
        "kink",
        "hits",
        "worst",
        "rel",
        "err",
        "verdict",
    ]
    by_op = {
        row.split()[0]: row.split() for row in rows if row and row.split()[0] in ("exp", "add")
    }
    assert by_op["exp"][2] == "1,2,3" and by_op["exp"][-1] == "ok"
    assert by_op["add"][2] == "1,2"
    assert int(by_op["exp"][3]) >= 15  # 5 examples for each of three orders
    assert "[1/2] exp" in captured.err and "[2/2] add" in captured.err  # progress


def test_order_caps_the_checked_orders(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "exp", "--order", "1", "--examples", "5", "--json", "--full-jacobian"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    (row,) = data["ops"]
    assert (row["op"], row["orders"], row["verdict"]) == ("exp", [1], "ok")


def test_plugin_selects_its_ops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--plugin", "dezero-ext-math", "--examples", "3", "--json"]) == 0
    ops = {row["op"] for row in json.loads(capsys.readouterr().out)["ops"]}
    assert {"sin", "cos", "tanh"} <= ops
    assert "exp" not in ops


def test_named_ops_and_plugins_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "exp", "--plugin", "dezero-ext-math", "--examples", "2", "--order", "1"]
    assert main([*args, "--json"]) == 0
    ops = [row["op"] for row in json.loads(capsys.readouterr().out)["ops"]]
    assert ops[0] == "exp" and {"sin", "cos", "tanh"} <= set(ops)
    assert "square" not in ops


def test_unknown_op_or_plugin_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "expp"]) == 2
    assert "did you mean 'exp'" in capsys.readouterr().err
    assert main(["check", "--plugin", "nope"]) == 2
    assert "no plugin named 'nope'" in capsys.readouterr().err


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_an_installed_plugin_is_checked(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _run(site, "--plugin", "fake_good", "--examples", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cube" in result.stdout and "all passed" in result.stdout


def test_a_wrong_op_fails_the_run_with_its_report(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_bad", fake_dist.BAD_PLUGIN)
    result = _run(site, "--plugin", "fake_bad", "--examples", "10")
    assert result.returncode == 1
    assert "bad_cube" in result.stdout and "FAIL" in result.stdout
    assert "gradient mismatch: op 'bad_cube' (plugin 'fake_bad'), order 1" in result.stdout
    assert "sign flipped" in result.stdout
    assert "1 of 1 ops FAILED" in result.stdout


def test_a_plugin_that_fails_to_load_fails_the_whole_check(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_broken", "raise ImportError('no such thing')\n")
    env = {**os.environ, "PYTHONPATH": str(site), "DEZERO_EXT_PLUGINS": "fake_broken"}
    whole = subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", "--examples", "2"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert whole.returncode == 2  # a plugin-load error (no op failed)
    assert "fake_broken" in whole.stderr and "1 plugin failed to load" in whole.stdout
    named = _run(site, "exp", "--examples", "2")
    assert named.returncode == 0, named.stdout + named.stderr


# ------------------------------------------------ frictions a new user met (issue 19, item 8)
def test_an_order_above_the_declared_one_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "exp", "add", "--order", "9", "--examples", "2", "--json"]) == 0
    captured = capsys.readouterr()
    rows = {row["op"]: row["orders"] for row in json.loads(captured.out)["ops"]}
    assert rows == {"exp": [1, 2, 3], "add": [1, 2]}  # each to its declared order
    (line,) = [line for line in captured.err.splitlines() if "--order 9" in line]
    assert "exp (3)" in line and "add (2)" in line and "declared" in line
    assert main(["check", "exp", "--order", "3", "--examples", "2", "--json"]) == 0
    assert "--order" not in capsys.readouterr().err  # not above: nothing to say


def test_one_op_is_singular(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "exp", "--order", "1", "--examples", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("1 op checked, 1 example,"), last


def test_kink_hits_only_for_declared_kinks(capsys: pytest.CaptureFixture[str]) -> None:
    # exp declares no kink: a numerical kink the checker stumbles on is not a "kink hit"
    assert main(["check", "exp", "abs", "--examples", "20", "--json", "--full-jacobian"]) == 0
    rows = {row["op"]: row for row in json.loads(capsys.readouterr().out)["ops"]}
    assert rows["exp"]["kink_hits"] == 0
    assert rows["abs"]["kink_hits"] >= 1  # abs declares its kink at 0, which is aimed at


def test_a_misspelled_plugin_name_warns_once_and_fails_both_commands(tmp_path: Path) -> None:
    env = {**os.environ, "DEZERO_EXT_PLUGINS": "dezero-ext-mth"}
    env.pop("DEZERO_EXT_STRICT_PLUGINS", None)
    check = ["check", "exp", "square", "--order", "1", "--examples", "2"]
    for args in (["ops"], check, [*check, "-j", "2"]):  # worker processes load plugins too
        result = subprocess.run(
            [sys.executable, "-m", "dezero_ext", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        mentions = [line for line in result.stderr.splitlines() if "dezero-ext-mth" in line]
        assert len(mentions) == 1, result.stderr
        assert "registry.py" not in result.stderr and "Warning" not in result.stderr


@pytest.mark.parametrize(
    ("cpus", "load", "jobs"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 5.6, 1), (8, 2.2, 6), (1, 0.0, 1)],
)
def test_j_auto_takes_one_worker_per_idle_cpu_and_none_on_a_busy_machine(
    cpus: int, load: float, jobs: int
) -> None:
    from dezero_ext.cli.check import jobs_for

    assert jobs_for(cpus, load) == jobs


def test_j_auto_on_a_busy_machine_checks_in_this_process_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (40.0, 40.0, 40.0))
    assert main(["check", "exp", "--examples", "2", "-j", "auto"]) == 0
    captured = capsys.readouterr()
    assert "-j auto: 1 process (this one);" in captured.err
    assert "load average 40.00" in captured.err
    assert "[1/1] exp (orders 1-3) ... ok" in captured.err  # -j 1's progress: no worker
