"""Static typing as users see it: what mypy infers for ops and what it rejects."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from mypy import api as mypy_api

from dezero_ext import OpRegistry, Variable
from tests.plugin_example import softplus as example

ROOT = Path(__file__).resolve().parents[2]


def run_mypy(tmp_path: Path, source: str) -> str:
    path = tmp_path / "sample.py"
    path.write_text(textwrap.dedent(source))
    stdout, stderr, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--config-file", str(ROOT / "mypy.ini"), str(path)]
    )
    return stdout + stderr


def test_applying_ops_is_typed_as_variable_and_mistakes_are_caught(tmp_path: Path) -> None:
    out = run_mypy(
        tmp_path,
        """
        import numpy as np
        from dezero_ext import Array, Function, Variable
        from dezero_ext.ops import exp, square
        from dezero_ext_math import sin

        class Square(Function):
            def forward(self, x: Array) -> Array:
                return x ** 2

            def backward(self, gy: Variable) -> Variable:
                (x,) = self.inputs
                return 2 * x * gy

        x = Variable(np.array(0.5))
        reveal_type(Square()(x))
        reveal_type(square(exp(x)))
        reveal_type(sin(x) + 1.0)
        reveal_type(x.grad)
        bad: int = square(x)
        """,
    )
    assert 'Revealed type is "dezero_ext.core.variable.Variable"' in out
    assert out.count('Revealed type is "dezero_ext.core.variable.Variable"') == 3
    assert 'Revealed type is "dezero_ext.core.variable.Variable | None"' in out
    assert 'Incompatible types in assignment (expression has type "Variable"' in out
    assert "Any" not in out


def test_the_example_plugin_registers_and_runs() -> None:
    registry = OpRegistry(strict=True)
    registry.register(example, "example")
    assert set(registry.ops()) == {"softplus", "split_sign"}
    x = Variable(np.array([-1.0, 0.5]))
    y = example.softplus(x)
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 1 / (1 + np.exp(-x.data)))
    pos, neg = example.split_sign(x)
    np.testing.assert_array_equal(pos.data, [0.0, 0.5])
    np.testing.assert_array_equal(neg.data, [-1.0, 0.0])
