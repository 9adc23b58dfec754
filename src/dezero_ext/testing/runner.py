"""The property test of one op: Hypothesis draws cases from the op's declaration and each one
goes through ``check_gradients``. Used by the pytest plugin and by ``dezero-ext check``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, event, given, settings
from hypothesis import strategies as st

from dezero_ext.opdef import Case, OpDef
from dezero_ext.testing.gradcheck import check_gradients
from dezero_ext.testing.report import GradientCheckError
from dezero_ext.testing.strategies import Drawer, draw_case

__all__ = [
    "DEFAULT_EXAMPLES",
    "OpCheckResult",
    "OpStats",
    "check_op",
    "op_property",
    "op_settings",
]

DEFAULT_EXAMPLES = 25
"""Examples per op and order in ``dezero-ext check`` and the generated pytest tests."""


@dataclass(slots=True)
class OpStats:
    """Counts gathered while an op's property test runs."""

    examples: int = 0
    kink_hits: int = 0
    kink_examples: int = 0
    worst_rel_error: float = 0.0
    dtypes: dict[str, int] = field(default_factory=dict)


def has_kinks(opdef: OpDef) -> bool:
    """Whether the checker aims some examples at the op's kinks or ties."""
    return opdef.ties != "none" or any(d.kinks or d.distinct for d in opdef.domains)


def aim_at_kinks(draw: Drawer, opdef: OpDef, case: Case) -> Case:
    """Move some elements of ``case`` onto declared kinks, and tie some elements, so the
    op's convention there gets checked."""
    inputs = [np.array(x, copy=True) for x in case.inputs]
    for i, x in enumerate(inputs):
        if x.size == 0:
            continue
        domain = opdef.domains[i] if i < len(opdef.domains) else opdef.domains[0]
        kinks = [p for p in domain.kinks if domain.lower <= p <= domain.high]
        flat = x.reshape(-1)
        if kinks:
            for _ in range(draw(st.integers(1, min(3, x.size)))):
                flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(kinks))
        if (opdef.ties != "none" or domain.distinct) and x.size > 1:
            source, target = draw(
                st.lists(st.integers(0, x.size - 1), min_size=2, max_size=2, unique=True)
            )
            flat[target] = flat[source]
    if opdef.ties != "none" and len(inputs) > 1:
        first = inputs[0]
        for other in inputs[1:]:
            if other.shape == first.shape and other.size and draw(st.booleans()):
                j = draw(st.integers(0, other.size - 1))
                other.reshape(-1)[j] = first.reshape(-1)[j]
    return Case(tuple(inputs), case.params)


def op_property(
    opdef: OpDef,
    orders: Sequence[int],
    *,
    plugin: str | None = None,
    stats: OpStats | None = None,
) -> Callable[[st.DataObject], None]:
    """The body of ``opdef``'s property test: draw a dtype, a case (aimed at kinks in some
    first-order examples) and a direction seed, then check the given derivative orders."""
    kinky = has_kinks(opdef) and min(orders) == 1

    def check(data: st.DataObject) -> None:
        dtype = data.draw(st.sampled_from(opdef.dtypes), label="dtype")
        case = draw_case(data.draw, opdef, dtype)
        aimed = kinky and data.draw(st.integers(0, 2), label="aim at kinks") == 0
        if aimed:
            case = aim_at_kinks(data.draw, opdef, case)
        seed = data.draw(st.integers(0, 2**32 - 1), label="direction seed")
        result = check_gradients(
            opdef, case.inputs, case.params, orders=orders, seed=seed, plugin=plugin
        )
        if result.kink_hits:
            event("kink hit (convention checked)")
        if aimed:
            event("aimed at a kink or tie")
        event(f"dtype {dtype}")
        if stats is not None:
            stats.examples += 1
            stats.kink_hits += result.kink_hits
            stats.kink_examples += bool(result.kink_hits)
            if math.isfinite(result.rel_error):
                stats.worst_rel_error = max(stats.worst_rel_error, result.rel_error)
            stats.dtypes[dtype] = stats.dtypes.get(dtype, 0) + 1

    return check


def op_settings(examples: int, *, seed: int | None = None, quiet: bool = True) -> settings:
    """Hypothesis settings for an op check: ``examples`` examples, no deadline, no database;
    derandomized unless a ``seed`` is given."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        verbosity=Verbosity.quiet if quiet else Verbosity.normal,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=False,
        report_multiple_bugs=False,
    )


@dataclass(frozen=True, slots=True)
class OpCheckResult:
    """The outcome of ``check_op`` for one op."""

    op: str
    plugin: str | None
    orders: tuple[int, ...]
    examples: int
    kink_hits: int
    worst_rel_error: float
    seconds: float
    failure: GradientCheckError | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and self.error is None

    @property
    def verdict(self) -> str:
        return "ok" if self.passed else ("FAIL" if self.failure is not None else "ERROR")


def check_op(
    opdef: OpDef,
    *,
    orders: Sequence[int] | None = None,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    plugin: str | None = None,
) -> OpCheckResult:
    """Run ``opdef``'s property test for each of ``orders`` (default: 1 to its declared
    order), ``examples`` examples each; never raises for a failing op, returns the result."""
    wanted = tuple(orders) if orders is not None else tuple(range(1, opdef.order + 1))
    stats = OpStats()
    start = time.perf_counter()
    failure: GradientCheckError | None = None
    error: str | None = None
    for order in wanted:
        body = op_property(opdef, (order,), plugin=plugin, stats=stats)
        test = op_settings(examples, seed=seed)(given(st.data())(body))
        if seed is not None:
            from hypothesis import seed as hypothesis_seed

            test = hypothesis_seed(seed)(test)
        try:
            test()
        except GradientCheckError as exc:
            failure = exc
            break
        except Exception as exc:  # noqa: BLE001 - anything else the op raised is reported too
            error = f"{type(exc).__name__}: {exc}"
            break
    return OpCheckResult(
        opdef.name,
        plugin,
        wanted,
        stats.examples,
        stats.kink_hits,
        stats.worst_rel_error,
        time.perf_counter() - start,
        failure,
        error,
    )
