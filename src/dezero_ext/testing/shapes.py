"""The shapes the ordinary draws leave out, checked as explicit extra examples: every input
0-d, a dimension of size 0, and the broadcasting extremes (``(1,)`` against ``(3, 4)``, ``()``
against ``(3, 4)``, ``(3, 1)`` against ``(1, 4)``), as the op's ``ShapeRule`` allows them.

``extreme_cases`` lists them for a declaration without a ``sample`` function (a sampler draws
its own shapes); ``check_extremes`` checks each one with ``check_gradients`` at the orders of
the run, once per op (``check_op`` and the pytest plugin, after the drawn examples). A case
where the op's output is not finite (the mean of an empty array) or where it refuses an empty
input (the maximum of no element) is skipped: there is no derivative to check.
``values_for`` gives the values, here and in ``--stress`` (``stress.py``): spread over the
input's ``Domain``, without Hypothesis.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Case, Declaration, Domain, ShapeRule
from dezero_ext.testing.gradcheck import CheckResult, check_gradients
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Target
from dezero_ext.testing.report import GradientCheckError

__all__ = ["check_extremes", "extreme_cases", "values_for"]

Shapes = tuple[tuple[int, ...], ...]


def values_for(
    domain: Domain, shape: tuple[int, ...], dtype: str, rng: np.random.Generator
) -> Array:
    """An array of ``shape`` in ``dtype`` spread over ``domain``'s intervals: one value per
    equal slice of them (at its middle for a ``distinct`` domain, so elements are as far apart
    as the domain allows; at a random point of it otherwise), in a random order."""
    count = math.prod(shape)
    pieces = domain.intervals_in(dtype)
    total = sum(high - low for low, high in pieces)
    jitter = np.full(count, 0.5) if domain.distinct else rng.uniform(0.1, 0.9, count)
    offsets = (np.arange(count) + jitter) / max(count, 1) * total
    values = np.empty(count)
    start = 0.0
    for n, (low, high) in enumerate(pieces):
        last = n == len(pieces) - 1
        inside = (offsets >= start) & ((offsets < start + high - low) | last)
        values[inside] = np.clip(low + offsets[inside] - start, low, high)
        start += high - low
    result: Array = rng.permutation(values).astype(dtype).reshape(shape)
    return result


def _broadcast(arity: int) -> list[tuple[str, Shapes]]:
    if arity == 1:
        return [("every input 0-d", ((),)), ("size 0", ((0,),)), ("size 0", ((2, 0, 3),))]
    rest = arity - 1
    return [
        ("every input 0-d", ((),) * arity),
        ("size 0, broadcast", ((0, 3), *((3,),) * rest)),
        ("size 0", ((2, 0), *((2, 0),) * rest)),
        ("broadcast: (1,) against (3, 4)", ((1,), *((3, 4),) * rest)),
        ("broadcast: (3, 4) against (1,)", ((3, 4), *((1,),) * rest)),
        ("broadcast: () against (3, 4)", ((), *((3, 4),) * rest)),
        ("broadcast: (3, 1) against (1, 4)", ((3, 1), *((1, 4),) * rest)),
    ]


def _shapes(spec: Declaration) -> list[tuple[str, Shapes, dict[str, object]]]:
    n = spec.arity
    rule = spec.shape_rule
    if rule is ShapeRule.ELEMENTWISE:
        found = [("every input 0-d", ((),) * n), ("size 0", ((0,),) * n)]
        return [(label, shapes, {}) for label, shapes in [*found, ("size 0", ((2, 0, 3),) * n)]]
    if rule is ShapeRule.BROADCAST:
        return [(label, shapes, {}) for label, shapes in _broadcast(n)]
    if rule is ShapeRule.MATMUL:
        return [
            ("size 0: (0, 3) @ (3, 2)", ((0, 3), (3, 2)), {}),
            ("size 0 inner: (2, 0) @ (0, 3)", ((2, 0), (0, 3)), {}),
        ]
    # REDUCTION: never over an empty axis (a max has no value there, a sum is 0)
    return [
        ("a 0-d input", ((),), {"axis": None, "keepdims": False}),
        ("size 0, reduced over the other axis", ((0, 3),), {"axis": 1, "keepdims": False}),
        ("size 0, reduced over the other axis", ((3, 0),), {"axis": 0, "keepdims": True}),
        ("size 0, nothing reduced", ((0, 3),), {"axis": (), "keepdims": False}),
    ]


def extreme_cases(spec: Declaration) -> list[tuple[str, Case]]:
    """``(label, case)`` for each extreme shape ``spec``'s rule allows, values in float64;
    none for a declaration with a ``sample`` function."""
    if spec.sample is not None:
        return []
    rng = np.random.default_rng(0)
    cases = []
    for label, shapes, params in _shapes(spec):
        inputs = tuple(
            values_for(spec.domain(i), shape, "float64", rng) for i, shape in enumerate(shapes)
        )
        cases.append((label, Case(inputs, params)))
    return cases


def _defined(target: Target, case: Case) -> bool:
    """Whether the op is defined on ``case``: its outputs are finite (a mean of no element is
    nan: no derivative to check), and it does not refuse an empty input (the maximum of no
    element: NumPy raises too). An op that raises on a non-empty extreme is checked, and
    reported, all the same."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            outputs = target.evaluate(case.inputs, case.params)
    except Exception:  # noqa: BLE001 - the check itself reports what the op raises
        return all(x.size for x in case.inputs)
    return all(bool(np.isfinite(y).all()) for y in outputs)


def check_extremes(
    target: Target,
    options: CheckOptions,
    *,
    plugin: str | None = None,
    done: Callable[[str, CheckResult], None] | None = None,
) -> None:
    """Check each of ``extreme_cases(target.spec)`` with ``check_gradients`` (orders from
    ``options``, dtypes in turn); raises ``GradientCheckError`` for the first failing one, its
    report naming the shape (``variant``). ``done(dtype, result)`` is called for each pass."""
    __tracebackhide__ = True
    spec = target.spec
    for n, (label, case) in enumerate(extreme_cases(spec)):
        if not _defined(target, case):
            continue
        dtype = spec.dtypes[n % len(spec.dtypes)]
        inputs = [x.astype(dtype) for x in case.inputs]
        checked = replace(options, seed=n, full_jacobian=False)
        try:
            result = check_gradients(target, inputs, case.params, checked, plugin=plugin)
        except GradientCheckError as error:
            failure = error.failure
            named = f"shape extreme: {label}" + (
                f"; {failure.example.variant}" if failure.example.variant else ""
            )
            example = replace(failure.example, variant=named)
            raise GradientCheckError(replace(failure, example=example)) from None
        if done is not None:
            done(dtype, result)
