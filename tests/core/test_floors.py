"""The core is the ground floor: Variable's operators and methods work with no plugin loaded,
importing the core loads no plugin machinery, and a plugin cannot take an operator over."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dezero_ext import Array, Function, OpDef, OpRegistry, OpSet, Variable
from dezero_ext.core.function import AsType
from dezero_ext.core.operators import OPERATORS, Operators
from dezero_ext.core.variable import Engine
from dezero_ext.registry import OpConflictError, OpSetPlugin

OPERATOR_PROGRAM = """
import numpy as np
import dezero_ext as dx
x = dx.Variable(np.array([-1.0, 2.0]))
y = dx.Variable(np.array([3.0, 0.5]))
results = [abs(x), x.max(), x.min(), x + y, x - y, x * y, x / y, -x, x ** 2, 2 ** x,
           x + 1, 1 - x, 2 * x, x / 2, 1 / y, y ** y, x @ y, x[0], x.T, x.reshape(2, 1),
           x.transpose(), x.sum(), x.mean(), np.ones(2) + x]
(abs(x).sum() + x.max() + (x * y).sum()).backward()
print(x.grad.data.tolist())
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=60,
    )


def test_every_operator_works_with_no_plugin_loaded() -> None:
    done = _run(OPERATOR_PROGRAM, DEZERO_EXT_PLUGINS="")
    assert done.returncode == 0, done.stderr
    # d/dx of |x| + max(x) + x.y at x = (-1, 2), y = (3, 0.5): (-1 + 0 + 3, 1 + 1 + 0.5)
    assert done.stdout.strip() == "[2.0, 2.5]"


def test_importing_the_core_and_the_ops_loads_no_plugin_machinery() -> None:
    code = (
        "import sys, numpy as np, dezero_ext\n"
        "x = dezero_ext.Variable(np.ones(3)); (abs(x) * 2).sum().backward()\n"
        "print(sorted(m for m in ('pluggy', 'hypothesis', 'importlib.metadata') "
        "if m in sys.modules))"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_plugin_machinery_loads_on_first_use() -> None:
    code = "import dezero_ext, sys\nprint(len(dezero_ext.get_registry().ops()) > 0)"
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_a_plugin_op_named_like_a_builtin_is_a_conflict_and_operators_are_unaffected() -> None:
    import numpy as np

    from dezero_ext.ops.reduction import Max

    clash = OpSet()
    clash.add(OpDef("max", Max, description="a plugin's max"))
    registry = OpRegistry()
    registry.register_builtins()
    registry.register(OpSetPlugin(clash), "clash")
    with pytest.raises(OpConflictError, match="'max' is declared by two plugins"):
        registry.ops()
    x = Variable(np.array([1.0, 3.0]))
    assert float(x.max().data) == 3.0  # never looked up in any registry


def test_an_unbound_operator_names_what_to_do() -> None:
    table = Operators()
    with pytest.raises(RuntimeError, match="import dezero_ext"):
        _ = table.Add
    assert OPERATORS.Add is not None


def test_an_unbound_engine_names_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="import dezero_ext.core"):
        Engine().backward(Variable(np.ones(2)), False, False)


class _TripleToFloat64(Function):
    """3x, computed in float64 whatever the input's dtype (as a float64 constant would)."""

    def forward(self, x: Array) -> Array:
        return (x * 3).astype(np.float64)

    def backward(self, gy: Variable) -> Variable:
        return _TripleToFloat64()(gy)


class _KeepsNoInputs(_TripleToFloat64):
    # keeping no inputs, its backward cannot cast to them: the engine casts at the leaf
    saves_inputs = saves_output = False


def test_a_float32_leafs_recorded_gradient_is_cast_within_the_core() -> None:
    # The engine casts with core.function.astype, not through the ops floor: with every
    # operator of the table unbound, the cast still happens, recorded in the graph.
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = _KeepsNoInputs()(x)
    bound = {name: getattr(OPERATORS, name) for name in Operators.__slots__}
    for name in bound:
        delattr(OPERATORS, name)
    try:
        y.backward(create_graph=True)
    finally:
        for name, op in bound.items():
            setattr(OPERATORS, name, op)
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    assert x.grad.data.tolist() == [3.0, 3.0]
    assert isinstance(x.grad.creator, AsType)
