"""``gradient_test``: a target's property-based gradient check as a pytest test, in one line
of a test file::

    from dezero_ext.testing import gradient_test
    from dezero_ext.testing.adapters.torch import torch_target

    test_my_gelu = gradient_test(torch_target(MyGelu.apply, domains=Domain(-3, 3), order=2))

pytest collects ``test_my_gelu[order1]``, ``test_my_gelu[order2]``: each draws examples from
the target's declaration under the active Hypothesis profile (derandomized under ``ci``) and
fails with the checker's report. Needs Hypothesis and pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dezero_ext.opdef import OpDef
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Target
from dezero_ext.testing.runner import as_declared, op_property, op_settings

__all__ = ["gradient_test"]


def gradient_test(
    target: Target | OpDef, options: CheckOptions | None = None
) -> Callable[[int], None]:
    """A pytest test function checking ``target`` (an adapter's target, any ``Target``, an
    ``OpDef``) at each of its orders (``options.orders_for``: default 1 to its declared
    order), one test per order, ``options.examples`` Hypothesis examples each, under the
    active Hypothesis profile. Assign it to a module-level ``test_*`` name."""
    opts = options or CheckOptions()
    checked = as_declared(target)
    wanted = opts.orders_for(checked.spec)
    if any(k > 4 for k in wanted):
        raise ValueError(f"gradient_test: orders must be ints from 1 to 4, got {wanted!r}")
    settings = op_settings(opts, from_profile=True)

    @pytest.mark.parametrize("order", wanted, ids=[f"order{k}" for k in wanted])
    def test(order: int) -> None:
        __tracebackhide__ = True  # pytest shows the report, not these frames
        body = op_property(checked, replace(opts, orders=(order,)))
        body.__name__ = body.__qualname__ = f"check_{checked.spec.name}_order{order}"
        settings(given(data=st.data())(body))()

    test.__name__ = test.__qualname__ = f"test_{checked.spec.name}_gradients"
    test.__doc__ = f"The gradient check of {checked.source}."
    return test
