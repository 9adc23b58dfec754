"""``--stress``: an op on large inputs, projections only.

The ordinary draws keep inputs at most 64 elements, so that a full Jacobian stays cheap; a
backward wrong only on large inputs (past the first block of a chunked kernel, jax#40409's
NaN at 2**16 elements, pytorch#57166) passes them. The stress check draws inputs of more than
10**4 elements (``stress_cases``: shapes the op's ``ShapeRule`` allows, values spread over its
``Domain``) and checks each derivative order on them by the random projection ``vᵀJu`` alone
(``gradcheck.check_projection``: one backward pass and a few forward passes, in the dtype under
check, against a central difference of ``<v, f(x + t u)>`` computed in float64), in every
declared dtype, until the op's time budget (``STRESS_SECONDS``) is spent (every order is
checked on at least one input).

What it cannot do: find which element is wrong (that needs the Jacobian: the report says so
and gives the command to run again), check ops with a ``sample`` function (their sampler
draws their shapes: they are skipped), or aim at kinks and ties.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

import numpy as np

from dezero_ext.opdef import Case, Declaration, ShapeRule
from dezero_ext.testing.errors import CheckFailedError
from dezero_ext.testing.gradcheck import OrderResult, check_projection, make_example
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Target
from dezero_ext.testing.report import format_failure
from dezero_ext.testing.shapes import values_for

__all__ = ["STRESS_ELEMENTS", "STRESS_SECONDS", "StressError", "check_stress", "stress_cases"]

STRESS_ELEMENTS: Final = 10_000
"""The fewest elements the largest input of a stress case has."""

STRESS_SECONDS: Final = 1.0
"""The time an op's stress check may take before it stops starting new inputs (each shape in
each dtype is checked once whatever the time; then up to ``_ROUNDS - 1`` more times on new
values while this lasts)."""
_ROUNDS: Final = 3

_BIG = (131, 97)  # 12,707 elements; no power of two, so every block of a kernel has a tail
_LONG = (2**14 + 5,)


class StressError(AssertionError):
    """A stress check failed; the message is the report."""


def _shapes(spec: Declaration) -> list[tuple[str, tuple[tuple[int, ...], ...], dict[str, object]]]:
    n, rule = spec.arity, spec.shape_rule
    if rule is ShapeRule.ELEMENTWISE:
        return [(f"{_LONG}", (_LONG,) * n, {}), (f"{_BIG}", (_BIG,) * n, {})]
    if rule is ShapeRule.BROADCAST and n == 1:
        return [(f"{_LONG}", (_LONG,), {}), (f"{_BIG}", (_BIG,), {})]
    if rule is ShapeRule.BROADCAST:
        rows, cols = _BIG
        return [
            (f"{_LONG}", (_LONG,) * n, {}),
            (f"{_BIG} with ({cols},)", (_BIG, *(((cols,),) * (n - 1))), {}),
            (f"({rows}, 1) with {_BIG}", ((rows, 1), *((_BIG,) * (n - 1))), {}),
        ]
    if rule is ShapeRule.MATMUL:
        return [("(101, 103) @ (103, 99)", ((101, 103), (103, 99)), {})]
    return [
        (f"{_LONG}, axis=None", (_LONG,), {"axis": None, "keepdims": False}),
        (f"{_BIG}, axis=0", (_BIG,), {"axis": 0, "keepdims": False}),
        (f"{_BIG}, axis=-1, keepdims", (_BIG,), {"axis": -1, "keepdims": True}),
    ]


def stress_cases(spec: Declaration, dtype: str, seed: int = 0) -> list[tuple[str, Case]]:
    """``(label, case)``: large inputs of ``spec``'s shape rule in ``dtype`` (none for a
    declaration with a ``sample`` function)."""
    if spec.sample is not None:
        return []
    rng = np.random.default_rng(seed)
    cases = []
    for label, shapes, params in _shapes(spec):
        inputs = tuple(values_for(spec.domain(i), s, dtype, rng) for i, s in enumerate(shapes))
        cases.append((label, Case(inputs, params)))
    return cases


def check_stress(
    target: Target,
    options: CheckOptions,
    *,
    plugin: str | None = None,
    done: Callable[[str, OrderResult], None] | None = None,
    budget: float = STRESS_SECONDS,
) -> int:
    """The stress check of ``target`` at ``options``'s orders (``options.seed``: the values
    and directions; None is 0). Returns the number of cases checked (0: a sampler's op);
    raises ``StressError`` with the report. ``done(dtype, result)`` follows each order."""
    __tracebackhide__ = True
    spec = target.spec
    if spec.sample is not None:
        return 0
    orders = options.orders_for(spec)
    start, checked = time.perf_counter(), 0
    shapes = range(len(_shapes(spec)))
    # each shape in each dtype, then again on new values while the budget lasts
    plan = [(r, dtype, n) for r in range(_ROUNDS) for n in shapes for dtype in spec.dtypes]
    for round_, dtype, n in plan:
        if round_ and time.perf_counter() - start > budget:
            break
        seed = (options.seed or 0) + round_
        label, case = stress_cases(spec, dtype, seed)[n]
        ex = make_example(target, case.inputs, case.params, seed=seed, plugin=plugin)
        ex = replace(ex, tolerance=options.tolerance or ex.tolerance, variant=f"stress: {label}")
        for order in orders:
            try:
                result = check_projection(ex, order)
            except CheckFailedError as failed:
                raise StressError(_report(failed, spec.name, target, options, order)) from None
            if done is not None:
                done(dtype, result)
        checked += 1
    return checked


def _report(
    failed: CheckFailedError, name: str, target: Target, options: CheckOptions, order: int
) -> str:
    """The failure report without its reproduce snippet (its arrays have 10**4 elements):
    the command that runs the same stress check again instead."""
    lines: Sequence[str] = format_failure(failed.failure).splitlines()
    kept = []
    for line in lines:
        if line.startswith("  example:"):
            break
        kept.append(line)
    seed = f", seed={options.seed}" if options.seed is not None else ""
    kept += [
        "  where:         the projection checks all elements at once and cannot say which is",
        "                 wrong; the ordinary checks (and their full Jacobian) see at most 64",
        f"  reproduce:     dezero-ext check {name} --stress --order {order}"
        + (f" --seed {options.seed}" if options.seed is not None else ""),
        f"                 or check_op({target.source}, "
        f"CheckOptions(stress=True, orders=({order},){seed}))",
    ]
    return "\n".join(kept)
