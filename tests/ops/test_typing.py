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


GUIDE = ROOT / "docs" / "plugin_guide.md"
_GUIDE_IMPORTS = """\
import numpy as np
from dezero_ext import Array, Domain, Function, Operand, OpSet, Variable, hookimpl
from dezero_ext.ops import exp

ops = OpSet()
"""


def test_the_guides_ops_pass_mypy_strict_without_an_ignore(tmp_path: Path) -> None:
    # The guide promises mypy --strict with no ignore. Under NumPy 2.4's stubs `a / b` of two
    # arrays is Any (ufunc calls are typed), so `return x / (1 + np.abs(x))` from a forward
    # declared `-> Array` is `no-any-return`: the guide shows the form that passes.
    import re

    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    with_ops = [b for b in blocks if "def forward" in b or "def backward" in b]
    assert len(with_ops) >= 3, "the guide's examples of ops"
    assert any(" / (1 + np.abs(x))" in b for b in with_ops), "the division form is shown"
    for n, block in enumerate(with_ops):
        source = block if "import numpy" in block else _GUIDE_IMPORTS + block
        out = run_mypy(tmp_path, source)
        assert "Success: no issues found" in out, f"guide block {n}:\n{block}\n{out}"
        assert "type: ignore" not in block


def test_a_plain_division_is_what_numpy_types_as_any(tmp_path: Path) -> None:
    # Why the guide binds the quotient to an annotated name: if NumPy's stubs ever type it,
    # this fails and the guide can show the plain return again.
    out = run_mypy(
        tmp_path,
        """
        import numpy as np
        from dezero_ext import Array

        def forward(x: Array) -> Array:
            return x / (1 + np.abs(x))

        def bound(x: Array) -> Array:
            y: Array = x / (1 + np.abs(x))
            return y
        """,
    )
    assert "sample.py:6: error: Returning Any" in out and "no-any-return" in out
    assert out.count("error:") == 1, out
