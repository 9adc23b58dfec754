"""Every hook of the plugin interface is documented for plugin authors and has a docstring
(datasette's rule: a hook nobody can read about is a hook nobody can use)."""

from __future__ import annotations

import inspect
from pathlib import Path

from dezero_ext.hookspecs import OpSpecs
from dezero_ext.testing import CheckOptions

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugin_guide.md"


def test_every_hookspec_has_a_docstring_and_a_place_in_the_plugin_guide() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    hooks = [name for name, _ in inspect.getmembers(OpSpecs) if name.startswith("dezero_ext_")]
    assert hooks == ["dezero_ext_ops"]
    for name in hooks:
        assert inspect.getdoc(getattr(OpSpecs, name)), f"{name} has no docstring"
        assert f"def {name}(" in guide, f"{name} is not shown in docs/plugin_guide.md"


def test_the_guides_first_example_is_a_working_plugin() -> None:
    """The plugin guide's op, declaration and hook, run as written, register and pass the
    gradient check."""
    import re

    from dezero_ext import OpRegistry, Variable
    from dezero_ext.testing import check_op

    block = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)[0]
    namespace: dict[str, object] = {}
    exec(compile(block, str(GUIDE), "exec"), namespace)
    registry = OpRegistry()
    registry.register(type("GuidePlugin", (), {"dezero_ext_ops": namespace["dezero_ext_ops"]}))
    opdef = registry.get("softplus")
    assert (opdef.order, opdef.arity) == (2, 1)
    softplus = namespace["softplus"]
    assert callable(softplus)
    y = softplus(Variable(__import__("numpy").array(0.0)))
    assert isinstance(y, Variable) and abs(float(y.data) - 0.6931471805599453) < 1e-12
    assert check_op(opdef, options=CheckOptions(examples=5)).passed


def test_the_guides_fast_path_example_is_checked_and_keeps_no_output() -> None:
    """The guide's SoftPlus with ``saves_output = False`` and ``backward_array``: checked,
    and a first-order backward through it gives backward's gradient."""
    import re

    import numpy as np

    from dezero_ext import OpSet, Variable
    from dezero_ext.testing import check_op

    first, *rest = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    second = next(block for block in rest if "def backward_array" in block)
    namespace: dict[str, object] = {}
    exec(compile(first, str(GUIDE), "exec"), namespace)
    namespace["ops"] = OpSet()
    exec(compile(second, str(GUIDE), "exec"), namespace)
    ops = namespace["ops"]
    assert isinstance(ops, OpSet)
    opdef = ops["softplus"]
    assert opdef.function.backward_array is not None and not opdef.function.saves_output
    assert check_op(opdef, options=CheckOptions(examples=5)).passed
    x = Variable(np.array([-1.0, 0.5, 2.0]))
    y = opdef(x)
    assert isinstance(y, Variable)
    y.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 1 / (1 + np.exp(-x.data)))
