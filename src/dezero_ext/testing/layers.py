"""``check_layer``: a layer's gradients, with respect to its input and every parameter,
against numerical differentiation, checked as an op's are.

The layer becomes a function of its inputs and its parameters: each parameter, found by its
path (``"l0/W"`` is ``layer.l0.W``), is replaced for the call by a Variable the checker
controls, so ``check_gradients`` perturbs it like any input. Hypothesis draws the inputs;
the parameters keep the layer's current values. Built on the public API of
``dezero_ext.testing`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Domain
from dezero_ext.testing.gradcheck import check_gradients
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.report import Failure, GradientCheckError, format_failure
from dezero_ext.testing.strategies import array_in

__all__ = [
    "CheckableLayer",
    "LayerCase",
    "LayerCheckError",
    "LayerCheckResult",
    "LAYER_OPTIONS",
    "LayerInput",
    "LayerInputs",
    "check_layer",
    "declared_order",
    "layer_orders",
    "run_layer_check",
]

LayerInput = Array | tuple[Array, ...]
"""The input of one call of a layer: an array, or a tuple of arrays for several inputs."""


class CheckableLayer(Protocol):
    """What ``check_layer`` needs: a callable whose ``namedparams()`` gives ``(path,
    parameter)`` pairs, the path being the chain of attribute names (every ``Layer`` is one).
    A ``reset_state()`` method, if there is one, is called before each sequence of calls."""

    def __call__(self, *inputs: Operand) -> Variable: ...

    def namedparams(self) -> Iterable[tuple[str, Variable]]: ...


@dataclass(frozen=True, slots=True)
class LayerCheckResult:
    """A passed ``check_layer``."""

    layer: str
    params: tuple[str, ...]
    """The parameter paths checked, besides the input."""
    orders: tuple[int, ...]
    """The derivative orders checked."""
    examples: int
    worst_rel_error: float
    capped_by: tuple[str, ...] = ()
    """The registered ops of the layer that declare a lower order than was asked (their
    ``OpDef.order``), which capped the orders checked."""


class LayerCheckError(GradientCheckError):
    """A layer's gradient disagrees with numerical differentiation: the op report, with
    the checked inputs named (the layer's input or which parameter)."""

    def __init__(
        self, failure: Failure, layer: str, names: tuple[str, ...], reproduce: str
    ) -> None:
        self.layer = layer
        self.names = names
        self.reproduce = reproduce
        super().__init__(failure)

    @property
    def culprit(self) -> str | None:
        """The input or parameter whose gradient is worst, when the report names one."""
        worst = self.failure.worst
        index = None if worst is None else worst.input
        return None if index is None or index >= len(self.names) else self.names[index]

    def __str__(self) -> str:
        lines = format_failure(self.failure).splitlines()
        lines = [line for line in lines if not line.startswith("  reproduce:")]
        legend = [f"  layer:         {self.layer}; its gradients are checked with respect to"]
        legend += [
            f"                   input {i} (x{i}): {name}" for i, name in enumerate(self.names)
        ]
        if self.culprit is not None:
            legend.append(f"  fault in:      the gradient with respect to {self.culprit}")
        lines[1:1] = legend
        lines.append(f"  reproduce:     {self.reproduce}")
        return "\n".join(lines)


DEFAULT_ORDER = 2
"""The highest derivative order ``check_layer`` checks unless told otherwise."""

LAYER_OPTIONS = CheckOptions(examples=10, max_order=DEFAULT_ORDER)
"""``check_layer``'s options when none are given: 10 examples, orders 1 and 2."""


def layer_orders(options: CheckOptions) -> tuple[int, ...]:
    """The orders a layer is checked at: ``options.orders``, else 1 to ``max_order`` (2 by
    default; lowered later to what the layer's ops declare)."""
    return options.orders or tuple(range(1, (options.max_order or DEFAULT_ORDER) + 1))


@dataclass(frozen=True, slots=True)
class LayerInputs:
    """What defines a layer's inputs in a check: a ``domain`` (a ``Domain`` with ``shape``,
    the shape of one input batch, or a Hypothesis strategy of arrays) or the ``given``
    inputs; ``steps`` calls in a row; the ``dtype`` of the inputs and parameters."""

    domain: Domain | st.SearchStrategy[LayerInput] | None = None
    shape: tuple[int, ...] | None = None
    given: Sequence[LayerInput] | None = None
    steps: int = 1
    dtype: str = "float64"


@dataclass(frozen=True, slots=True)
class LayerCase:
    """One layer for the pytest hook ``pytest_dezero_ext_layers``: ``make()`` builds a fresh
    layer for each test; the other fields are ``check_layer``'s arguments (one test per
    order, 1 to ``options.max_order``, 2 by default)."""

    name: str
    make: Callable[[], CheckableLayer]
    input_domain: Domain | st.SearchStrategy[LayerInput] | None = None
    input_shape: tuple[int, ...] | None = None
    steps: int = 1
    dtype: str = "float64"
    options: CheckOptions = LAYER_OPTIONS

    @property
    def inputs(self) -> LayerInputs:
        """The case's ``LayerInputs``."""
        return LayerInputs(self.input_domain, self.input_shape, None, self.steps, self.dtype)


def declared_order(outputs: Sequence[Variable]) -> tuple[int | None, tuple[str, ...]]:
    """The lowest derivative order the registered ops in the graph of ``outputs`` declare
    (None when no registered op is in it), and the names of the ops declaring it."""
    from dezero_ext.registry import get_registry

    registered = get_registry().ops()
    stack = [y.creator for y in outputs if y.creator is not None]
    seen: set[int] = set()
    lowest: int | None = None
    names: set[str] = set()
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        opdef = registered.get(f.op_name) if f.op_name else None
        if opdef is not None:
            if lowest is None or opdef.order < lowest:
                lowest, names = opdef.order, {opdef.name}
            elif opdef.order == lowest:
                names.add(opdef.name)
        stack.extend(f.input_creators())
    return lowest, tuple(sorted(names))


# ---------------------------------------------------------------------- the layer as a function
def _as_call(value: LayerInput, dtype: str) -> tuple[Array, ...]:
    arrays = value if isinstance(value, tuple) else (value,)
    return tuple(
        np.asarray(a, dtype=dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
        for a in arrays
    )


def _reset(layer: CheckableLayer) -> None:
    reset = getattr(layer, "reset_state", None)
    if callable(reset):
        reset()


def _owner(layer: CheckableLayer, path: str, param: Variable) -> tuple[object, str]:
    *parents, attr = path.split("/")
    owner: object = layer
    for part in parents:
        owner = getattr(owner, part, None)
    if owner is None or getattr(owner, attr, None) is not param:
        raise TypeError(
            f"check_layer: parameter path {path!r} of {type(layer).__name__} is not a chain of "
            "attributes leading to the parameter; namedparams() must give such paths"
        )
    return owner, attr


@contextmanager
def _substituted(
    slots: Sequence[tuple[object, str, Variable]], values: Sequence[Variable]
) -> Iterator[None]:
    # object.__setattr__: the swap must not go through a layer's own registration logic.
    try:
        for (owner, attr, _), value in zip(slots, values, strict=True):
            object.__setattr__(owner, attr, value)
        yield
    finally:
        for owner, attr, original in slots:
            object.__setattr__(owner, attr, original)


@dataclass(frozen=True, slots=True)
class _Checked:
    params: tuple[str, ...]
    orders: tuple[int, ...]
    rel_error: float
    capped_by: tuple[str, ...]


def _capped(
    layer: CheckableLayer, calls: list[tuple[Array, ...]], orders: Sequence[int], cap: bool
) -> tuple[Sequence[int], tuple[str, ...]]:
    """The orders to check, lowered to what the layer's registered ops declare when ``cap``;
    a first call also builds the parameters a layer creates then."""
    _reset(layer)
    warm = [layer(*args) for args in calls]
    capped_by: tuple[str, ...] = ()
    if cap:
        top, low_ops = declared_order(warm)
        if top is not None and top < max(orders):
            orders, capped_by = [k for k in orders if k <= top], low_ops
    _reset(layer)
    return orders, capped_by


@dataclass(frozen=True, slots=True)
class _AsFunction:
    """The layer as a function of its float inputs and its parameters, for the checker."""

    function: Callable[..., tuple[Variable, ...]]
    names: tuple[str, ...]
    arrays: list[Array]
    n_inputs: int
    params: tuple[str, ...]


def _as_function(layer: CheckableLayer, calls: list[tuple[Array, ...]], dtype: str) -> _AsFunction:
    named = list(layer.namedparams())
    slots = [(*_owner(layer, path, p), p) for path, p in named]
    positions = [
        (step, k)
        for step, args in enumerate(calls)
        for k, a in enumerate(args)
        if a.dtype.kind == "f"
    ]
    n_inputs = len(positions)

    def layer_function(*vs: Variable) -> tuple[Variable, ...]:
        args: list[list[Operand]] = [list(a) for a in calls]
        for (step, k), v in zip(positions, vs[:n_inputs], strict=True):
            args[step][k] = v
        with _substituted(slots, vs[n_inputs:]):
            _reset(layer)
            return tuple(layer(*a) for a in args)

    layer_function.__name__ = type(layer).__name__
    many = len(calls) > 1 or any(len(args) > 1 for args in calls)
    names = [
        f"the layer's input {k} at call {step + 1}" if many else "the layer's input"
        for step, k in positions
    ] + [f"parameter {path!r} {tuple(p.shape)}" for path, p in named]
    arrays = [calls[step][k] for step, k in positions]
    arrays += [np.asarray(p.data, dtype=dtype) for _, p in named]
    params = tuple(path for path, _ in named)
    return _AsFunction(layer_function, tuple(names), arrays, n_inputs, params)


def _check_example(
    layer: CheckableLayer,
    calls: list[tuple[Array, ...]],
    dtype: str,
    options: CheckOptions,
    cap: bool,
) -> _Checked:
    """One example: ``options.orders`` (resolved), capped when ``cap``; ``options.seed``
    seeds the random directions."""
    __tracebackhide__ = True
    assert options.orders is not None
    orders, capped_by = _capped(layer, calls, options.orders, cap)
    fn = _as_function(layer, calls, dtype)
    if not orders:
        return _Checked(fn.params, (), 0.0, capped_by)
    seed = options.seed or 0
    try:
        result = check_gradients(
            fn.function, fn.arrays, options=replace(options, orders=tuple(orders), seed=seed)
        )
    except GradientCheckError as exc:
        given_inputs = ", ".join(f"x{i}" for i in range(fn.n_inputs))
        reproduce = (
            f"check_layer(layer, inputs=[{given_inputs}], dtype={dtype!r}, "
            f"options=CheckOptions(orders=({exc.failure.order},), seed={seed}))  (with the "
            "layer's current parameters, the other x's above)"
        )
        raise LayerCheckError(exc.failure, type(layer).__name__, fn.names, reproduce) from None
    finally:
        _reset(layer)
    return _Checked(fn.params, tuple(orders), result.rel_error, capped_by)


def check_layer(
    layer: CheckableLayer,
    input_domain: Domain | st.SearchStrategy[LayerInput] | None = None,
    input_shape: tuple[int, ...] | None = None,
    *,
    inputs: Sequence[LayerInput] | None = None,
    steps: int = 1,
    dtype: str = "float64",
    options: CheckOptions = LAYER_OPTIONS,
) -> LayerCheckResult:
    """Check the gradients of ``layer`` with respect to its input and every parameter, at
    derivative orders 1 to ``options.max_order`` (2 by default) as far as the registered ops
    the layer uses declare (``OpDef.order``), or exactly ``options.orders``, against central
    differences.

    Inputs are drawn by Hypothesis (``options.examples`` of them, 10 by default; derandomized
    unless ``options.seed``) from ``input_domain`` with ``input_shape``, or from a strategy of
    arrays (integer arrays, such as token ids, are passed as they are and not differentiated;
    a tuple of arrays is several inputs); or ``inputs`` gives them. ``steps`` calls the layer
    that many times in a row (one drawn input each) after ``reset_state()``, so a recurrent
    layer is checked through its state. Parameters keep the layer's current values,
    converted to ``dtype`` for the check (the reference is float64). A layer that creates its
    parameters at the first call is called once first. ``options`` also carries
    ``tolerance`` and ``full_jacobian``.

    Returns a ``LayerCheckResult``; raises ``LayerCheckError`` (a ``GradientCheckError``)
    naming the input or parameter whose gradient is wrong.
    """
    __tracebackhide__ = True
    source = LayerInputs(input_domain, input_shape, inputs, steps, dtype)
    return run_layer_check(layer, source, options, cap=options.orders is None)


def run_layer_check(
    layer: CheckableLayer, inputs: LayerInputs, options: CheckOptions, *, cap: bool
) -> LayerCheckResult:
    """``check_layer`` on ``inputs``: ``cap`` lowers the orders to what the layer's ops
    declare (the pytest plugin checks one order per test this way)."""
    __tracebackhide__ = True
    options = replace(options, orders=layer_orders(options))
    dtype = inputs.dtype
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"check_layer: dtype must be a floating dtype, got {dtype!r}")
    label = type(layer).__name__
    if inputs.given is not None:
        calls = [_as_call(value, dtype) for value in inputs.given]
        one = _check_example(layer, calls, dtype, options, cap)
        return LayerCheckResult(label, one.params, one.orders, 1, one.rel_error, one.capped_by)
    strategy = _strategy(inputs.domain, inputs.shape, dtype)
    if inputs.steps < 1:
        raise ValueError(f"check_layer: steps must be >= 1, got {inputs.steps}")
    checked: list[_Checked] = []

    @_layer_settings(options.examples, options.seed)
    @given(st.tuples(*[strategy] * inputs.steps), st.integers(0, 2**32 - 1))
    def run(values: tuple[LayerInput, ...], direction_seed: int) -> None:
        __tracebackhide__ = True
        calls = [_as_call(value, dtype) for value in values]
        checked.append(
            _check_example(layer, calls, dtype, replace(options, seed=direction_seed), cap)
        )

    if options.seed is not None:
        from hypothesis import seed as hypothesis_seed

        run = hypothesis_seed(options.seed)(run)
    run()
    last = checked[-1] if checked else _Checked((), (), 0.0, ())
    worst = max((c.rel_error for c in checked if math.isfinite(c.rel_error)), default=0.0)
    return LayerCheckResult(label, last.params, last.orders, len(checked), worst, last.capped_by)


def _layer_settings(examples: int, seed: int | None) -> settings:
    """Hypothesis settings of a layer check: derandomized unless ``seed``, no database."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # the report explains
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def _strategy(
    input_domain: Domain | st.SearchStrategy[LayerInput] | None,
    input_shape: tuple[int, ...] | None,
    dtype: str,
) -> st.SearchStrategy[LayerInput]:
    if isinstance(input_domain, Domain):
        if input_shape is None:
            raise TypeError(
                "check_layer: give input_shape with a Domain (the shape of one input batch), "
                "or a strategy of arrays instead of the Domain"
            )
        return array_in(input_domain, tuple(input_shape), dtype)
    if input_domain is None:
        raise TypeError(
            "check_layer: give input_domain (a Domain with input_shape, or a Hypothesis "
            "strategy of input arrays), or inputs=[...]"
        )
    return input_domain
