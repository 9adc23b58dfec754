"""What the adapters share, without any framework installed: they import their framework only
when used (and say how to install it); ``dezero-ext check --target MODULE:ATTR`` and
``gradient_test`` check any ``Target``; an exception's location note reaches the report."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from dezero_ext import Domain, OpDef
from dezero_ext.cli import main
from dezero_ext.core.variable import Array
from dezero_ext.ops.basic import Square
from dezero_ext.testing import (
    CheckOptions,
    GradientCheckError,
    TargetSpec,
    check_gradients,
    gradient_test,
)
from dezero_ext.testing.errors import describe
from dezero_ext.testing.loading import TargetLoadError, load_targets
from dezero_ext.testing.protocol import Cotangents, Pullback


class Cube:
    """x ** 3 in NumPy with its derivatives by hand; ``factor`` scales the analytic side."""

    source = "Cube()"
    derivatives = (lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6 + 0 * x)

    def __init__(self, factor: float = 1.0, name: str = "cube") -> None:
        self.spec = TargetSpec(name, domains=(Domain(-2.0, 2.0),), order=3)
        self.factor = factor

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        (x,) = inputs
        scale = np.prod([c[0] for c in cotangents], axis=0).astype(x.dtype)
        return (scale * self.derivatives[len(cotangents)](x),)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        (x,) = inputs
        scale = np.prod([c[0] for c in cotangents], axis=0).astype(x.dtype)
        slope = self.factor * self.derivatives[len(cotangents) + 1](x)
        return self.evaluate(inputs, params, cotangents), lambda v: (v[0] * scale * slope,)


CUBE = Cube()
WRONG_CUBE = Cube(factor=1.01, name="wrong_cube")
SUITE = [CUBE, OpDef("square", Square, domains=(Domain(-2.0, 2.0),), order=2)]
NOT_A_TARGET = 42


def square_function(x: object) -> object:
    return x


# the pytest form on a target that needs no framework
test_cube_gradients = gradient_test(CUBE, options=CheckOptions(examples=10))


@pytest.mark.parametrize("framework", ["torch", "jax", "dezero"])
def test_importing_an_adapter_does_not_import_its_framework(framework: str) -> None:
    code = (
        "import sys\n"
        f"import dezero_ext.testing.adapters.{framework}\n"
        f"print({framework!r} in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("framework", "factory"),
    [("torch", "torch_target"), ("jax", "jax_target"), ("dezero", "dezero_target")],
)
def test_a_missing_framework_says_which_extra_to_install(framework: str, factory: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{framework!r}] = None  # as if not installed\n"
        f"from dezero_ext.testing.adapters.{framework} import {factory}\n"
        f"{factory}(abs)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"pip install 'dezero-ext[{framework}]'" in out.stderr.splitlines()[-1]


def test_load_targets_names_each_by_where_it_lives() -> None:
    (cube,) = load_targets("tests.testing.test_adapters:CUBE")
    assert (cube.spec.name, cube.source) == ("cube", "tests.testing.test_adapters.CUBE")
    listed = load_targets("tests.testing.test_adapters:SUITE")
    assert [t.source for t in listed] == [
        "tests.testing.test_adapters.SUITE[0]",
        "tests.testing.test_adapters.SUITE[1]",
    ]
    assert [t.spec.name for t in listed] == ["cube", "square"]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.testing.test_adapters", "give MODULE:ATTR"),
        ("tests.no_such_module:X", "cannot import tests.no_such_module"),
        ("tests.testing.test_adapters:MISSING", "has no attribute 'MISSING'"),
        ("tests.testing.test_adapters:NOT_A_TARGET", "is a int, not a Target"),
        ("tests.testing.test_adapters:square_function", "wrap a function with an adapter"),
    ],
)
def test_a_bad_reference_says_what_is_wrong(reference: str, message: str) -> None:
    with pytest.raises(TargetLoadError, match=message):
        load_targets(reference)


def test_check_target_checks_only_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["check", "--target", "tests.testing.test_adapters:SUITE", "--examples", "5", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(r["op"], r["plugin"], r["orders"], r["verdict"]) for r in out["ops"]] == [
        ("cube", None, [1, 2, 3], "ok"),
        ("square", None, [1, 2], "ok"),
    ]


def test_check_target_fails_with_a_reproduce_line_naming_the_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["check", "--target", "tests.testing.test_adapters:WRONG_CUBE", "--order", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "gradient mismatch: op 'wrong_cube', order 1" in out
    assert "check_gradients(tests.testing.test_adapters.WRONG_CUBE, [x0]" in out


def test_the_command_finds_the_module_from_where_it_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    command = Path(sys.executable).with_name("dezero-ext")
    argv = [
        str(command),
        "check",
        "--target",
        "tests.testing.test_adapters:CUBE",
        "--examples",
        "3",
    ]
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 op checked" in out.stdout


def test_check_target_with_ops_checks_both(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "check",
        "exp",
        "--target",
        "tests.testing.test_adapters:CUBE",
        "--examples",
        "3",
        "--json",
    ]
    assert main(argv) == 0
    assert [r["op"] for r in json.loads(capsys.readouterr().out)["ops"]] == ["exp", "cube"]


def test_a_bad_target_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--target", "tests.testing.test_adapters:NOT_A_TARGET"]) == 2
    assert "is a int, not a Target" in capsys.readouterr().err


def test_gradient_test_makes_one_test_per_order() -> None:
    marks = [m for m in getattr(test_cube_gradients, "pytestmark", []) if m.name == "parametrize"]
    assert marks[0].args == ("order", (1, 2, 3))
    with pytest.raises(GradientCheckError, match="gradient mismatch: op 'wrong_cube'"):
        gradient_test(WRONG_CUBE, options=CheckOptions(examples=5))(1)
    with pytest.raises(ValueError, match="orders must be ints >= 1"):
        CheckOptions(orders=(0,))
    with pytest.raises(ValueError, match="orders must be ints from 1 to 4"):
        gradient_test(CUBE, CheckOptions(orders=(5,)))


def test_a_location_note_reaches_the_report() -> None:
    exc = ValueError("bad layout")
    exc.add_note("raised in DeZero at dezero/core.py:48 in Variable.__init__")
    exc.add_note("a note\nover two lines")
    assert describe(exc) == (
        "ValueError: bad layout (raised in DeZero at dezero/core.py:48 in Variable.__init__)"
    )


def test_a_plain_target_still_reproduces_with_check_gradients() -> None:
    with pytest.raises(GradientCheckError, match="\ncheck_gradients\\(Cube\\(\\), \\[x0\\]"):
        check_gradients(WRONG_CUBE, [np.array([0.5, -1.25])], options=CheckOptions(max_order=1))
