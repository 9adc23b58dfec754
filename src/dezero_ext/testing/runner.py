"""The property test of one op: Hypothesis draws cases from the op's declaration and each one
goes through ``check_gradients``. Used by the pytest plugin and by ``dezero-ext check``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, event, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Case, OpDef
from dezero_ext.testing.claims import ClaimError, check_claims
from dezero_ext.testing.errors import describe
from dezero_ext.testing.gradcheck import CheckResult, OrderResult, check_gradients
from dezero_ext.testing.jvpcheck import ForwardModeTarget, check_jvp, check_target_jvp
from dezero_ext.testing.op_targets import OpTarget
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Declaration, Target
from dezero_ext.testing.report import GradientCheckError, example_lines
from dezero_ext.testing.shapes import check_extremes
from dezero_ext.testing.storage import database, hypothesis_home
from dezero_ext.testing.strategies import Drawer, draw_case, sampled_from_cached
from dezero_ext.testing.stress import StressError, check_stress
from dezero_ext.testing.timeout import CheckTimeout, fired, time_limit
from dezero_ext.testing.tracecheck import check_traced

__all__ = [
    "OpCheckResult",
    "Verdict",
    "OpStats",
    "check_op",
    "jvp_test",
    "op_property",
    "op_settings",
    "timeout_report",
]


@dataclass(slots=True)
class OpStats:
    """Counts gathered while an op's property test runs."""

    examples: int = 0
    kink_hits: int = 0
    kink_examples: int = 0
    worst_rel_error: float = 0.0
    dtypes: dict[str, int] = field(default_factory=dict)


def has_kinks(spec: Declaration) -> bool:
    """Whether the checker aims some examples at the op's kinks or ties."""
    return spec.ties != "none" or any(d.kinks or d.distinct for d in spec.domains)


def aim_at_kinks(draw: Drawer, spec: Declaration, case: Case) -> Case:
    """Move some elements of ``case`` onto declared kinks, and tie some elements, so the
    op's convention there gets checked."""
    inputs = [np.array(x, copy=True) for x in case.inputs]
    for i, x in enumerate(inputs):
        if x.size == 0:
            continue
        domain = spec.domain(i)
        kinks = domain.kinks_inside()
        flat = x.reshape(-1)
        if kinks:
            for _ in range(draw(st.integers(1, min(3, x.size)))):
                flat[draw(st.integers(0, x.size - 1))] = draw(sampled_from_cached(tuple(kinks)))
        if (spec.ties != "none" or domain.distinct) and x.size > 1:
            # Tie the largest or smallest element (where a max or min is decided) or any one.
            which = draw(sampled_from_cached(("max", "min", "any")))
            source = {"max": int(np.argmax(flat)), "min": int(np.argmin(flat))}.get(
                which, draw(st.integers(0, x.size - 1))
            )
            # A neighbour in memory order usually shares a reduction group or pooling window.
            if draw(st.booleans()):
                target = source + 1 if source + 1 < x.size else source - 1
            else:
                target = draw(st.integers(0, x.size - 2))
                target += target >= source
            flat[target] = flat[source]
    if spec.ties != "none" and len(inputs) > 1:
        _tie_across(draw, inputs)
    return Case(tuple(inputs), case.params)


def _tie_across(draw: Drawer, inputs: list[Array]) -> None:
    """Make inputs equal at some positions of their broadcast shape (``maximum(x, y)``)."""
    try:
        shape = np.broadcast_shapes(*(x.shape for x in inputs))
    except ValueError:
        return
    if not shape or math.prod(shape) == 0:
        if all(x.shape == () for x in inputs) and draw(st.booleans()):
            for x in inputs[1:]:
                x[()] = inputs[0][()]
        return
    for _ in range(draw(st.integers(1, 3))):
        flat = draw(st.integers(0, math.prod(shape) - 1))
        position = tuple(int(i) for i in np.unravel_index(flat, shape))

        def index(x: Array, position: tuple[int, ...] = position) -> tuple[int, ...]:
            aligned = position[len(shape) - x.ndim :]
            return tuple(0 if n == 1 else int(i) for i, n in zip(aligned, x.shape, strict=True))

        value = inputs[0][index(inputs[0])]
        for x in inputs[1:]:
            x[index(x)] = value


def as_declared(target: Target | OpDef) -> Target:
    """``target`` as a ``Target`` with a declaration to draw from: an ``OpDef`` is wrapped."""
    if isinstance(target, OpDef):
        return OpTarget(target)
    if isinstance(target, Target):
        return target
    raise TypeError(
        f"check_op needs an OpDef or a Target, not {type(target).__name__}; check a plain "
        "function on your own inputs with check_gradients"
    )


def _on_backend(target: Target, options: CheckOptions) -> Target:
    """``target`` on ``options.backend`` (``testing.backends``; its spec keeps the dtypes the
    backend has), or itself on NumPy."""
    if options.backend == "numpy":
        return target
    from dezero_ext.testing.backends import on_backend

    return on_backend(target, options.backend)


def _record(
    stats: OpStats, dtype: str, result: CheckResult, kinky: bool, *, drawn: bool = True
) -> None:
    stats.examples += drawn
    # Only a declared kink or tie has a convention to hit; elsewhere one-sided derivatives
    # that differ (a 0.0 drawn into an abs declared without kinks) are no claim of the op's.
    hits = result.kink_hits if kinky else 0
    stats.kink_hits += hits
    stats.kink_examples += bool(hits)
    if math.isfinite(result.rel_error):
        stats.worst_rel_error = max(stats.worst_rel_error, result.rel_error)
    stats.dtypes[dtype] = stats.dtypes.get(dtype, 0) + 1


def op_property(
    target: Target | OpDef,
    options: CheckOptions,
    *,
    plugin: str | None = None,
    stats: OpStats | None = None,
) -> Callable[[st.DataObject], None]:
    """The body of ``target``'s property test: draw a dtype, a case (aimed at kinks in some
    examples) and a direction seed, then check the derivative orders of
    ``options`` (``orders_for``) with them."""
    checked = _on_backend(as_declared(target), options)
    spec = checked.spec
    orders = options.orders_for(spec)
    declares_kinks = has_kinks(spec)
    # at every order: a kink or tie of the op is a kink of its derivatives too (the order-2
    # check accepts any value between the one-sided derivatives there: jacobian.compare)
    kinky = declares_kinks
    # Each example checks these orders with the seed it draws: the orders resolved once here.
    base = replace(options, orders=orders)

    # Hypothesis derandomizes from this function's source text: an edit of its body (even a
    # comment) draws other examples in every default check. Change what is drawn in
    # draw_case or aim_at_kinks instead, where the same choices draw the same examples.
    def check(data: st.DataObject) -> None:
        __tracebackhide__ = True  # pytest shows the report, not the checker's frames
        dtype = data.draw(st.sampled_from(spec.dtypes), label="dtype")
        case = draw_case(data.draw, spec, dtype)
        aimed = kinky and data.draw(st.integers(0, 2), label="aim at kinks") == 0
        if aimed:
            case = aim_at_kinks(data.draw, spec, case)
        seed = data.draw(st.integers(0, 2**32 - 1), label="direction seed")
        result = check_gradients(
            checked, case.inputs, case.params, replace(base, seed=seed), plugin=plugin
        )
        if result.kink_hits and declares_kinks:
            event("kink hit (convention checked)")
        if aimed:
            event("aimed at a kink or tie")
        event(f"dtype {dtype}")
        if stats is not None:
            _record(stats, dtype, result, declares_kinks)
        if traced is not None:
            check_traced(traced, case.inputs, case.params)

    opdef = target if isinstance(target, OpDef) else getattr(target, "opdef", None)
    # first order only: a traced call differentiates to first order
    traced = opdef if options.traced and 1 in orders and isinstance(opdef, OpDef) else None
    return check


def op_settings(options: CheckOptions, *, from_profile: bool = False) -> settings:
    """Hypothesis settings for an op check: ``options.examples`` examples, no deadline, no
    explain phase (the report explains the failure), one failure per run. ``from_profile``
    keeps the rest of the active profile (the pytest plugin); otherwise the run is quiet, uses
    no database and is derandomized unless ``options.seed`` is given."""
    common = settings(
        max_examples=options.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=[p for p in settings().phases if p is not Phase.explain],
        report_multiple_bugs=False,
    )
    if from_profile:  # but not .hypothesis/ in the working directory (storage.database)
        return settings(common, database=database(settings().database))
    return settings(
        common,
        database=None,
        derandomize=options.seed is None,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


Verdict: TypeAlias = Literal["ok", "FAIL", "ERROR", "TIMEOUT", "n/a"]
"""An op check's outcome: passed, a gradient check failed, the checker could not run the op's
check (its declaration or sampler raised), it ran out of time, or it does not apply (the op
does not declare the backend asked for: no failure)."""


@dataclass(frozen=True, slots=True)
class OpCheckResult:
    """The outcome of ``check_op`` for one op: its counts, its ``verdict`` and, unless it
    passed, the ``report`` (the failure report, the error or the time-out, as text).
    ``failure`` is the ``GradientCheckError`` itself, in the process that ran the check (a
    result sent from a worker process carries its report only)."""

    op: str
    plugin: str | None
    orders: tuple[int, ...]
    examples: int
    kink_hits: int
    worst_rel_error: float
    seconds: float
    verdict: Verdict = "ok"
    report: str = ""
    failure: GradientCheckError | None = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        """Whether nothing failed: ``ok``, or ``n/a`` (not applicable)."""
        return self.verdict in ("ok", "n/a")

    @property
    def error(self) -> str | None:
        """The report of an ``ERROR`` or ``TIMEOUT`` (``None`` otherwise)."""
        return self.report if self.verdict in ("ERROR", "TIMEOUT") else None

    def detached(self) -> OpCheckResult:
        """This result without the ``failure`` object: what crosses a process boundary."""
        return replace(self, failure=None)


@dataclass(frozen=True, slots=True)
class _Outcome:
    verdict: Verdict = "ok"
    report: str = ""
    failure: GradientCheckError | None = None


def _run_order(test: Callable[[], None], op: str) -> _Outcome:
    try:
        test()
    except GradientCheckError as exc:
        return _Outcome("FAIL", str(exc), exc)
    except (ClaimError, StressError) as exc:
        return _Outcome("FAIL", str(exc))
    except CheckTimeout as exc:
        return _Outcome("TIMEOUT", timeout_report(exc, op))
    except Exception as exc:  # noqa: BLE001 - anything else the op raised is reported too
        late = fired()
        if late is not None:  # the time-out, turned into another error where it landed
            return _Outcome("TIMEOUT", timeout_report(late, op))
        return _Outcome("ERROR", describe(exc))
    return _Outcome()


def jvp_test(
    target: Target | OpDef, options: CheckOptions, *, from_profile: bool = False
) -> Callable[[], None] | None:
    """The property test of a forward-mode rule (``jvpcheck.py``), once per op, on a quarter
    of ``options.examples`` (at least 5): an op's native rule, or the rule of another
    framework's target (``ForwardModeTarget``: a torch ``Function.jvp``, a ``jax.custom_jvp``);
    None when there is no rule to prove (an op on the fallback has none of its own)."""
    opdef = target if isinstance(target, OpDef) else getattr(target, "opdef", None)
    framework = target if isinstance(target, ForwardModeTarget) else None
    if isinstance(opdef, OpDef):
        if opdef.jvp_rule != "native":
            return None
        spec: Declaration = opdef
    elif framework is not None and framework.forward_rule is not None:
        spec = framework.spec
    else:
        return None

    def run(case: Case, seed: int) -> None:
        __tracebackhide__ = True
        if isinstance(opdef, OpDef):
            check_jvp(opdef, case.inputs, case.params, seed)
        elif framework is not None:
            check_target_jvp(framework, case.inputs, case.params, seed)

    def check(data: st.DataObject) -> None:
        __tracebackhide__ = True
        dtype = data.draw(st.sampled_from(spec.dtypes), label="dtype")
        case = draw_case(data.draw, spec, dtype)
        run(case, data.draw(st.integers(0, 2**32 - 1), label="direction seed"))

    examples = min(options.examples, max(5, options.examples // 4))
    test = op_settings(replace(options, examples=examples), from_profile=from_profile)(
        given(st.data())(check)
    )
    if options.seed is not None:
        test = hypothesis_seed(options.seed)(test)
    return test


def timeout_report(exc: CheckTimeout, op: str) -> str:
    """The report of a check that ran out of time: the op, the phase, and the example it was
    on with a snippet that runs it again."""
    lines = [exc.describe(op)]
    example = exc.phase.example
    if example is not None and exc.phase.order is not None:
        lines += example_lines(example, exc.phase.order)
    lines.append("  raise the limit with --timeout SECONDS (0: none), or find the loop that hangs")
    return "\n".join(lines)


def _extremes(
    target: Target | OpDef, options: CheckOptions, plugin: str | None, stats: OpStats
) -> None:
    """The shapes the draws leave out (0-d, size 0, broadcasting extremes: ``shapes.py``)."""
    checked = _on_backend(as_declared(target), options)
    kinky = has_kinks(checked.spec)
    orders = replace(options, orders=options.orders_for(checked.spec))

    def done(dtype: str, result: CheckResult) -> None:
        # not counted as examples (those are the drawn ones): their errors and kink hits are
        _record(stats, dtype, result, kinky, drawn=False)

    check_extremes(checked, orders, plugin=plugin, done=done)


def _stress(
    target: Target | OpDef, options: CheckOptions, plugin: str | None, stats: OpStats
) -> None:
    """``--stress``: large inputs, projections only (``stress.py``)."""

    def done(dtype: str, result: OrderResult) -> None:
        stats.examples += 1
        stats.worst_rel_error = max(stats.worst_rel_error, result.rel_error)
        stats.dtypes[dtype] = stats.dtypes.get(dtype, 0) + 1

    check_stress(as_declared(target), options, plugin=plugin, done=done)


def _load_plugins_first() -> None:
    """Import the plugins before an op's time limit is armed: a failure's report looks the
    op up in the registry, and a limit running out inside a plugin's import made the registry
    skip that plugin for the rest of the process."""
    from dezero_ext.registry import get_registry

    # RuntimeError: check_op called from a plugin's import, while the registry loads
    with contextlib.suppress(RuntimeError):
        get_registry()


def _not_applicable(spec: Declaration, options: CheckOptions) -> str:
    """Why ``spec`` is not checked on ``options.backend`` (empty: it is)."""
    if options.backend == "numpy":
        return ""
    from dezero_ext.testing.backends import not_applicable

    return not_applicable(spec, options.backend)


def check_op(
    target: Target | OpDef, options: CheckOptions | None = None, *, plugin: str | None = None
) -> OpCheckResult:
    """Run the property test of ``target`` (an ``OpDef``, or a ``Target`` with its
    declaration) with ``options`` (a ``CheckOptions``: the orders, default 1 to the declared
    order; the examples per order; the seed; the full Jacobian; the time limit; the
    backend); never raises for a failing op, returns the result (``n/a`` for an op that does
    not declare ``options.backend``; a backend that is not installed raises
    ``BackendUnavailableError``). The time limit covers the whole check, as in
    ``dezero-ext check`` (``options.timeout``; 0 for none): running out is the verdict
    ``TIMEOUT``, naming the phase. ``plugin`` names the op's plugin in the result.

    After the orders pass, once per op: the shapes the draws leave out (every input 0-d, size
    0, broadcasting extremes: ``dezero_ext.testing.shapes``) at the same orders; the
    declaration's ``error_inputs`` must raise what they say and each input's
    ``Domain.outside`` claim must hold (``FAIL`` with a report if not)."""
    opts = options or CheckOptions()
    spec = as_declared(target).spec
    wanted = opts.orders_for(spec)
    stats = OpStats()
    skip = _not_applicable(spec, opts)
    if skip:
        return OpCheckResult(spec.name, plugin, (), 0, 0, 0.0, 0.0, "n/a", skip)
    on_numpy = opts.backend == "numpy"
    if not on_numpy:  # not installed: BackendUnavailableError here, not an ERROR per op
        _on_backend(as_declared(target), opts)
    start = time.perf_counter()
    outcome = _Outcome()
    _load_plugins_first()
    try:  # the limit may run out on any line, building the property test included
        with time_limit(opts.time_limit), hypothesis_home():  # no .hypothesis/ in the cwd
            if opts.stress:  # instead of the ordinary draws (stress.py)
                outcome = _run_order(lambda: _stress(target, opts, plugin, stats), spec.name)
            for order in wanted if not opts.stress else ():
                body = op_property(
                    target, replace(opts, orders=(order,)), plugin=plugin, stats=stats
                )
                test = op_settings(opts)(given(st.data())(body))
                if opts.seed is not None:
                    test = hypothesis_seed(opts.seed)(test)
                outcome = _run_order(test, spec.name)
                if outcome.verdict != "ok":
                    break
            if outcome.verdict == "ok" and not opts.stress:
                outcome = _run_order(lambda: _extremes(target, opts, plugin, stats), spec.name)
            if outcome.verdict == "ok" and not opts.stress and on_numpy:
                outcome = _run_order(lambda: check_claims(as_declared(target)), spec.name)
            jvps = jvp_test(target, opts) if on_numpy else None  # NumPy's: not per backend
            if outcome.verdict == "ok" and jvps is not None:
                outcome = _run_order(jvps, spec.name)
    except CheckTimeout as exc:
        outcome = _Outcome("TIMEOUT", timeout_report(exc, spec.name))
    seconds = time.perf_counter() - start
    return OpCheckResult(
        spec.name,
        plugin,
        wanted,
        stats.examples,
        stats.kink_hits,
        stats.worst_rel_error,
        seconds,
        outcome.verdict,
        outcome.report,
        outcome.failure,
    )
