"""The ``dezero-ext`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dezero_ext.cli import main


def test_ops_lists_every_op_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    header, _rule, *rows = out.splitlines()
    assert header.split()[:4] == ["op", "plugin", "distribution", "version"]
    by_op = {row.split()[0]: row.split() for row in rows if row and not row.startswith(" ")}
    assert by_op["square"][1:3] == ["dezero_ext.ops.basic", "dezero-ext"]
    assert by_op["sin"][1:3] == ["math", "dezero-ext-math"]
    for op in ("exp", "add", "sub", "mul", "div", "neg", "pow", "matmul", "get_item", "tanh"):
        assert op in by_op
    assert by_op["linear"][4] == "2-3"  # an optional bias: two or three inputs


def test_ops_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ops = {row["name"]: row for row in data["ops"]}
    assert ops["div"]["arity"] == 2
    assert (ops["linear"]["arity"], ops["linear"]["optional"]) == (3, 1)
    assert ops["linear"]["arity_text"] == "2-3"
    assert ops["exp"]["backends"] == ["numpy", "array-api-strict", "dask", "cupy"]
    assert ops["get_item"]["backends"] == ["numpy"]  # the default: NumPy only
    assert ops["div"]["domains"][1] == "[-3, 3] excl 0"
    assert ops["cos"]["distribution"] == "dezero-ext-math" and ops["cos"]["builtin"] is False
    assert data["failures"] == []


def test_python_dash_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dezero_ext", "ops", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "square" in {row["name"] for row in json.loads(result.stdout)["ops"]}


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
