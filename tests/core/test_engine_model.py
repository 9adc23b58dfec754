"""The engine against a model: Hypothesis drives random programs and, after every step,
compares every gradient the engine holds with an independent reference.

A program grows one step at a time: leaves of mixed shapes (all broadcasting to (2, 3)) and
dtypes (float64, float32, constants), registered ops on any live variables (one variable used
many times, diamonds, broadcasting, arrays passed as constants), ops under ``no_grad()`` and
``test_mode()``, ops through ``dezero_ext.trace`` (one traced function per op and parameters,
so a later call of the same shapes replays the recorded program; gradients through a traced
call are first order, so no ``create_graph`` pass starts above one), ``backward`` from any
variable with and without ``retain_grad`` and ``create_graph``, repeated, ``cleargrad``,
gradients promoted into the program and differentiated again, the book's update
``x.data -= lr * x.grad.data`` (after which a backward of an older graph must raise), deleting
variables, and dropping everything (the graph must then be freed by reference counting
alone: the garbage collector is off during a run).

The model knows what every ``grad`` must be: each backward call adds to each leaf (and, with
``retain_grad``, to each intermediate) one term, ``d <seed, root> / d node``, which the
reference computes by central differences of the whole program in float64
(``tests.oracle.numerical_grad``, independent of ``dezero_ext.testing``), differentiating
through promoted gradients with nested central differences. When PyTorch is installed, each
first-order term is also compared with ``torch.autograd.grad`` on the same program. float32
must stay float32, in values and gradients.

The random programs of the checker (``check_gradients`` on composed ops, first and second
order) are here too, as they were in ``test_random_graph.py``.
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dezero_ext import (
    Array,
    OpDef,
    ShapeRule,
    Tolerance,
    Traced,
    Variable,
    get_registry,
    no_grad,
    trace,
)
from dezero_ext import test_mode as inference_mode  # not a test: pytest must not collect it
from dezero_ext.core.function import FunctionBase
from dezero_ext.opdef import Domain
from dezero_ext.testing import CheckOptions, GradientCheckError, array_in, check_gradients
from tests import mutants
from tests.core.engine_model.adversary import Adversary
from tests.oracle import numerical_grad

torch: Any
try:
    torch = importlib.import_module("torch")
except ImportError:  # the comparison with PyTorch runs when it is installed
    torch = None


def _defined_everywhere(op: OpDef) -> bool:
    """Ops that can take any intermediate value in [-3, 3]: no poles, kinks, ties or
    restricted inputs."""
    return (
        op.sample is None
        and not op.multi_output
        and op.shape_rule in (ShapeRule.ELEMENTWISE, ShapeRule.BROADCAST, ShapeRule.REDUCTION)
        and op.arity <= 2
        and "float64" in op.dtypes
        and "float32" in op.dtypes
        and all(
            not d.exclude
            and not d.kinks
            and not d.distinct
            and not d.positive
            and d.outside == "defined"
            and d.low <= -3.0  # intermediate values are scaled into [-3, 3]
            and d.high >= 3.0
            for d in op.domains
        )
        and op.ties == "none"
    )


POOL = [op for op in get_registry().ops().values() if _defined_everywhere(op)]


def test_the_pool_has_unary_binary_and_reducing_ops() -> None:
    assert {op.arity for op in POOL} == {1, 2}
    assert any(op.shape_rule is ShapeRule.REDUCTION for op in POOL)


# ===================================================== random programs through the checker
@dataclass(frozen=True)
class Step:
    op: OpDef
    args: tuple[int, ...]
    scale: float
    keepdims: bool | None = None  # a reduction over all axes, keeping them or not


@dataclass(frozen=True)
class Program:
    leaves: tuple[Array, ...]
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]

    def __call__(self, *xs: Variable) -> tuple[Variable, ...]:
        nodes: list[Variable] = list(xs)
        for step in self.steps:
            params = {} if step.keepdims is None else {"axis": None, "keepdims": step.keepdims}
            y = step.op.outputs(*(nodes[i] for i in step.args), **params)[0]
            nodes.append(y * step.scale if step.scale != 1.0 else y)
        return tuple(nodes[i] for i in self.outputs)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    n_leaves = draw(st.integers(1, 3))
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n_leaves, max_dims=2, max_side=3)
    ).input_shapes
    leaves = tuple(draw(array_in(Domain(-1.0, 1.0), shape)) for shape in shapes)
    values = [Variable(x) for x in leaves]
    steps: list[Step] = []
    used: set[int] = set()
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(POOL))
        # Later nodes are likelier, and any node may be reused: diamonds and shared leaves.
        args = tuple(
            draw(st.integers(0, len(values) - 1) | st.just(len(values) - 1))
            for _ in range(op.arity)
        )
        if op.shape_rule is ShapeRule.ELEMENTWISE and len({values[i].shape for i in args}) > 1:
            args = (args[0],) * op.arity  # ELEMENTWISE: every input has one shape
        keepdims = draw(st.booleans()) if op.shape_rule is ShapeRule.REDUCTION else None
        params = {} if keepdims is None else {"axis": None, "keepdims": keepdims}
        y = op.outputs(*(values[i] for i in args), **params)[0]
        peak = float(np.abs(y.data).max(initial=0.0))
        scale = 1.0 if peak <= 3.0 else 2.0 / peak  # keep values where every op is tame
        values.append(y * scale if scale != 1.0 else y)
        steps.append(Step(op, args, scale, keepdims))
        used.update(args)
    sinks = [i for i in range(n_leaves, len(values)) if i not in used]
    extra = draw(st.lists(st.sampled_from(sinks), max_size=2)) if sinks else []
    outputs = tuple(sorted({len(values) - 1, *extra}))
    return Program(leaves, tuple(steps), outputs)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_graphs_have_correct_gradients(program: Program) -> None:
    check_gradients(
        program,
        program.leaves,
        options=CheckOptions(max_order=1, tolerance=Tolerance(rtol=1e-4, atol=1e-6)),
    )


@settings(max_examples=25, deadline=None)
@given(programs())
def test_random_graphs_have_correct_second_derivatives(program: Program) -> None:
    if any(step.op.order < 2 for step in program.steps):
        return
    check_gradients(
        program,
        program.leaves,
        options=CheckOptions(orders=(2,), tolerance=Tolerance(rtol=1e-4, atol=1e-6)),
    )


def test_a_reused_variable_accumulates_on_a_diamond() -> None:
    add = get_registry().get("add")
    mul = get_registry().get("mul")
    x = np.array([0.5, -1.0])
    program = Program(
        (x,),
        (Step(mul, (0, 0), 1.0), Step(add, (1, 0), 1.0), Step(mul, (2, 1), 1.0)),
        (3,),
    )
    result = check_gradients(program, [x], options=CheckOptions(max_order=2, full_jacobian=True))
    assert [r.order for r in result.orders] == [1, 2]


def test_a_wrong_op_inside_a_graph_is_caught() -> None:
    add = get_registry().get("add")
    x = np.array([0.5, -1.0])
    program = Program((x,), (Step(mutants.DOUBLED_SQUARE, (0,), 1.0), Step(add, (1, 0), 1.0)), (2,))
    with pytest.raises(GradientCheckError):
        check_gradients(program, [x])


# ===================================================== the model
SHAPES: list[tuple[int, ...]] = [(), (1,), (3,), (2, 1), (1, 3), (2, 3)]  # all broadcast to (2, 3)
DTYPES: list[np.dtype[Any]] = [np.dtype(np.float64), np.dtype(np.float32)]
LEARNING_RATE = 0.1


@dataclass
class Term:
    """One gradient a backward call added: ``d <seed, root> / d wrt`` (a float64 array)."""

    root: int
    seed: Array
    wrt: int
    value: Array
    differentiable: bool  # recorded under create_graph, and not cut by a later plain call
    tolerance: float


@dataclass
class Node:
    """A variable of the program, as the model sees it."""

    id: int
    kind: str  # "leaf", "op" or "grad" (a gradient promoted into the program)
    dtype: np.dtype[Any]
    value: Array  # float64: the value when made (a leaf's: its current value)
    requires_grad: bool
    recorded: bool  # the engine gave it a creator: gradients flow through it
    op: OpDef | None = None
    args: tuple[int, ...] = ()
    as_array: tuple[bool, ...] = ()  # which args were passed as plain arrays (constants)
    params: dict[str, object] = field(default_factory=dict)
    arg_values: tuple[Array, ...] = ()  # the args' values when recorded (float64)
    scale: float = 1.0
    terms: list[Term] = field(default_factory=list)  # a grad node's value, term by term
    deps: frozenset[int] = frozenset()  # the nodes gradients flow to through it
    float32: bool = False  # float32 somewhere in its making: looser tolerances
    deep: bool = False  # gradients flow from it into a promoted gradient
    inexact: bool = False  # its model value went through central differences
    visited: bool = False  # a backward pass ran its creator (the engine released its leaves)
    traced: bool = False  # gradients from it pass a traced call (first order only)
    traced_call: bool = False  # made by a traced call: one node pinning all its inputs

    @property
    def free(self) -> bool:
        """A leaf for the engine: a real leaf, or made under no_grad, or from constants."""
        return not self.recorded


@dataclass
class Expected:
    """What a variable's ``grad`` must hold: None, or the sum of its terms."""

    terms: list[Term] = field(default_factory=list)

    @property
    def value(self) -> Array:
        total: Array = np.sum([t.value for t in self.terms], axis=0)
        return total

    @property
    def tolerance(self) -> float:
        return max(t.tolerance for t in self.terms)


F64_TOL, F32_TOL, DEEP_F64_TOL, DEEP_F32_TOL = 1e-6, 3e-3, 1e-4, 1e-2


def _close(actual: Array, expected: Array, tolerance: float) -> bool:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    return bool(np.allclose(actual, expected, rtol=tolerance, atol=tolerance * scale))


class Reference:
    """The program's values in float64, from its free nodes, by the ops' forward passes;
    gradients by central differences (nested through promoted gradients)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def value(self, i: int, overrides: dict[int, Array]) -> Array:
        if i in overrides:
            return overrides[i]
        node = self.nodes[i]
        if node.free or not (node.deps & overrides.keys()):
            return node.value
        if node.kind == "grad":
            total = np.zeros(node.value.shape)
            for t in node.terms:
                total = total + (self.term(t, overrides) if t.differentiable else t.value)
            return total
        assert node.op is not None
        xs = [Variable(np.array(self._arg(node, k, overrides))) for k in range(len(node.args))]
        with no_grad():
            y = node.op.outputs(*xs, **node.params)[0]
        return np.asarray(y.data * node.scale, dtype=np.float64)

    def _arg(self, node: Node, k: int, overrides: dict[int, Array]) -> Array:
        """Input ``k`` of ``node``: a leaf's value is the one the graph recorded (a later
        update of the leaf does not change it), moved by the perturbation ``overrides`` puts
        on the leaf's current value."""
        a = node.args[k]
        arg = self.nodes[a]
        if not arg.free:
            return self.value(a, overrides)
        if a in overrides:
            moved: Array = node.arg_values[k] + (overrides[a] - arg.value)
            return moved
        return node.arg_values[k]

    def term(self, t: Term, overrides: dict[int, Array]) -> Array:
        """``d <t.seed, root> / d t.wrt`` at the values ``overrides`` sets."""
        start = self.value(t.wrt, overrides)

        def scalar(args: list[Array]) -> float:
            return float(np.sum(t.seed * self.value(t.root, {**overrides, t.wrt: args[0]})))

        return numerical_grad(scalar, [np.array(start, dtype=np.float64)])[0]


def _clear_gradients(start: list[object]) -> None:
    """``cleargrad()`` every Variable reachable from ``start`` through creators, their inputs
    and grads (in a function: no reference outlives the call)."""
    found: dict[int, Variable] = {}
    functions: dict[int, FunctionBase] = {}
    stack = list(start)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Variable) and id(obj) not in found:
            found[id(obj)] = obj
            stack += [obj.grad, obj.creator]
        elif isinstance(obj, FunctionBase) and id(obj) not in functions:
            functions[id(obj)] = obj
            stack += obj.input_nodes()
    for var in found.values():
        var.cleargrad()


# PyTorch's version of each op of the pool, for the cross-check.
def _torch_ops() -> dict[str, Callable[..., Any]]:
    if torch is None:
        return {}

    def reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
        def apply(x: Any, axis: None = None, keepdims: bool = False) -> Any:
            y = fn(x.reshape(-1), 0)
            return y.reshape((1,) * x.dim()) if keepdims else y

        return apply

    return {
        "add": torch.add,
        "sub": torch.sub,
        "mul": torch.mul,
        "neg": torch.neg,
        "square": torch.square,
        "exp": torch.exp,
        "sin": torch.sin,
        "cos": torch.cos,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "mean_squared_error": lambda a, b: torch.mean((a - b) ** 2),
        "sum": reduce(torch.sum),
        "mean": reduce(torch.mean),
        "logsumexp": reduce(torch.logsumexp),
    }


TORCH_OPS = _torch_ops()


def _first_output(op: OpDef, params: dict[str, object], *xs: Variable) -> Variable:
    return op.outputs(*xs, **params)[0]


class EngineModel(RuleBasedStateMachine):
    """Random programs against the model; see the module docstring."""

    steps = 0  # counted across runs, for the soak test's report
    HIGHER_ORDER = True  # create_graph and second derivatives (off: the data updates thrive)

    def __init__(self) -> None:
        super().__init__()
        gc.disable()  # every graph must be freed by reference counting alone
        self.nodes: list[Node] = []
        self.live: dict[int, Variable] = {}  # the variables the program still holds
        self.expected: dict[int, Expected | None] = {}
        self.reference = Reference(self.nodes)
        self.tracked: list[weakref.ref[object]] = []  # everything made, for the leak check
        self.arrays: list[Array] = []  # the arrays given to Variable(...): writable at the end
        self.stale: set[int] = set()  # nodes recorded before a leaf they depend on changed
        self.graph_gradients = False  # a create_graph pass happened: no data update since
        self.traced: dict[tuple[str, str], Traced] = {}  # an op traced: recorded, then replayed

    # ------------------------------------------------------------------ bookkeeping
    def teardown(self) -> None:
        # No leak check here: after a failure the traceback holds variables. The rule
        # drop_everything checks it during runs.
        try:
            self._drop_everything(check=False)
        finally:
            gc.enable()

    def _add(self, node: Node, var: Variable) -> None:
        if node.deps & self.stale:
            self.stale.add(node.id)  # it reads a variable recorded before a leaf changed
        self.nodes.append(node)
        self.live[node.id] = var
        self.expected[node.id] = None
        self.tracked.append(weakref.ref(var))
        if var.creator is not None:
            self.tracked.append(weakref.ref(var.creator))

    def _pick(self, data: st.DataObject, where: Callable[[Node], bool], label: str) -> Node:
        ids = [i for i in self.live if where(self.nodes[i])]
        return self.nodes[data.draw(st.sampled_from(ids), label=label)]

    def _has(self, where: Callable[[Node], bool]) -> bool:
        return any(where(self.nodes[i]) for i in self.live)

    def _tolerance(self, node: Node) -> float:
        if node.inexact:  # (nested) central differences
            return DEEP_F32_TOL if node.float32 else DEEP_F64_TOL
        return F32_TOL if node.float32 else F64_TOL

    # ------------------------------------------------------------------ rules
    @initialize(data=st.data())
    def first_leaf(self, data: st.DataObject) -> None:
        self.leaf(data)

    @precondition(lambda self: sum(self.nodes[i].kind == "leaf" for i in self.live) < 4)
    @rule(data=st.data())
    def leaf(self, data: st.DataObject) -> None:
        shape = data.draw(st.sampled_from(SHAPES), label="shape")
        dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
        requires_grad = data.draw(st.booleans() | st.just(True), label="requires_grad")
        drawn: Array = data.draw(array_in(Domain(-1.0, 1.0), shape), label="x")
        array = drawn.astype(dtype)
        var = Variable(array, requires_grad=requires_grad)
        self.arrays.append(array)
        node = Node(
            id=len(self.nodes),
            kind="leaf",
            dtype=dtype,
            value=array.astype(np.float64),
            requires_grad=requires_grad,
            recorded=False,
            float32=dtype == np.float32,
        )
        self._add(node, var)

    MODES = st.sampled_from(["record", "record", "no_grad", "test_mode", "traced"])

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), op=st.sampled_from(POOL), mode=MODES)
    def apply(self, data: st.DataObject, op: OpDef, mode: str) -> None:
        self._apply(data, op, mode)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), op=st.sampled_from(POOL))
    def apply_recorded(self, data: st.DataObject, op: OpDef) -> None:
        self._apply(data, op, "record")

    def _apply(self, data: st.DataObject, op: OpDef, mode: str) -> None:
        first = self._pick(data, lambda n: True, "input 0")
        args = [first]
        for k in range(1, op.arity):
            if op.shape_rule is ShapeRule.ELEMENTWISE:  # inputs of one shape
                same = [i for i in self.live if self.nodes[i].value.shape == first.value.shape]
                args.append(self.nodes[data.draw(st.sampled_from(same), label=f"input {k}")])
            else:
                args.append(self._pick(data, lambda n: True, f"input {k}"))
        # A constant may be passed as a plain array (the engine wraps and copies it).
        as_array = tuple(
            not a.requires_grad and data.draw(st.booleans(), label="as array") for a in args
        )
        operands = [
            self.live[a.id].data if plain else self.live[a.id]
            for a, plain in zip(args, as_array, strict=True)
        ]
        params: dict[str, object] = {}
        if op.shape_rule is ShapeRule.REDUCTION:
            params = {"axis": None, "keepdims": data.draw(st.booleans(), label="keepdims")}
        if mode == "no_grad":
            with no_grad():
                raw = op.outputs(*operands, **params)[0]
        elif mode == "test_mode":
            with inference_mode():
                raw = op.outputs(*operands, **params)[0]
        elif mode == "traced":  # one node of the graph replaying the op (dezero_ext.trace)
            raw = self._traced_call(op, params, operands)
        else:
            raw = op.outputs(*operands, **params)[0]
        peak = float(np.abs(raw.data).max(initial=0.0))
        scale = 1.0 if peak <= 3.0 else 2.0 / peak  # keep values where every op is tame
        if mode == "no_grad":
            with no_grad():
                var = raw * scale if scale != 1.0 else raw
        else:
            var = raw * scale if scale != 1.0 else raw
        self.tracked.append(weakref.ref(raw))
        recorded = var.creator is not None
        flow = [a for a, plain in zip(args, as_array, strict=True) if a.requires_grad and not plain]
        node = Node(
            id=len(self.nodes),
            kind="op",
            dtype=np.result_type(*[a.dtype for a in args]),
            value=np.zeros(()),
            requires_grad=mode == "no_grad" or bool(flow),
            recorded=recorded,
            op=op,
            args=tuple(a.id for a in args),
            as_array=as_array,
            params=params,
            arg_values=tuple(np.array(a.value) for a in args),
            scale=scale,
            deps=frozenset().union(*[a.deps | {a.id} for a in flow]) if recorded else frozenset(),
            float32=any(a.float32 for a in args),
            deep=recorded and any(a.deep or a.kind == "grad" for a in flow),
            inexact=any(a.inexact for a in args),
            traced=recorded and (mode == "traced" or any(a.traced for a in flow)),
            traced_call=recorded and mode == "traced",
        )
        assert recorded == (mode != "no_grad" and bool(flow)), "recorded exactly when it must be"
        node.value = self._forward(node)
        note(f"node {node.id} = {op.name}{node.args} ({mode}) x {scale:.3g}")
        # The engine's forward agrees with the reference, and float32 stays float32.
        assert var.dtype == node.dtype, (var.dtype, node.dtype)
        assert var.shape == node.value.shape
        assert _close(var.data, node.value, self._tolerance(node))
        self._add(node, var)

    def _traced_call(
        self, op: OpDef, params: dict[str, object], operands: list[Variable | Array]
    ) -> Variable:
        key = (op.name, repr(sorted(params.items())))
        traced = self.traced.get(key)
        if traced is None:
            traced = self.traced[key] = trace(functools.partial(_first_output, op, params))
        before = traced.traces
        raw = traced(*operands)
        event("traced op replayed" if traced.traces == before else "traced op recorded")
        return raw

    def _forward(self, node: Node) -> Array:
        assert node.op is not None
        xs = [Variable(np.array(self.nodes[a].value)) for a in node.args]
        with no_grad():
            y = node.op.outputs(*xs, **node.params)[0]
        return np.asarray(y.data * node.scale, dtype=np.float64)

    @precondition(lambda self: self._has(lambda n: n.requires_grad))
    @rule(data=st.data(), retain=st.booleans(), create=st.sampled_from([False, False, True]))
    def backward(self, data: st.DataObject, retain: bool, create: bool) -> None:
        root = self._pick(data, lambda n: n.requires_grad, "root")
        self._backward(root, retain, create and self.HIGHER_ORDER and not root.traced)

    @precondition(lambda self: any(i in self.stale for i in self.live))
    @rule(data=st.data(), retain=st.booleans(), create=st.booleans())
    def backward_of_an_old_graph(self, data: st.DataObject, retain: bool, create: bool) -> None:
        """After the book's update, a graph recorded before it must refuse backward."""
        root = self._pick(data, lambda n: n.id in self.stale, "root")
        self._backward(root, retain, create and self.HIGHER_ORDER and not root.traced)

    def _backward(self, root: Node, retain: bool, create: bool) -> None:
        var = self.live[root.id]
        retain = retain and not root.deep  # which intermediates a deep pass reaches is the ops'
        expected = self.expected[root.id]
        if var.grad is not None and var.grad.creator is not None:
            var.cleargrad()  # a seed with a graph of its own: out of the model's scope
            expected = self.expected[root.id] = None
        note(f"node {root.id}.backward(retain_grad={retain}, create_graph={create})")
        refused = self._refused(root)
        kind = "stale" if root.id in self.stale else "deep" if root.deep else "first order"
        event(f"backward ({kind}{', refused' if refused else ''})")
        before = {i: v.grad for i, v in self.live.items()}
        if refused:
            with pytest.raises(RuntimeError, match="changed after the graph was recorded"):
                var.backward(retain_grad=retain, create_graph=create)
            assert all(v.grad is before[i] for i, v in self.live.items()), "nothing changed"
            return
        var.backward(retain_grad=retain, create_graph=create)
        seed = np.ones(root.value.shape) if expected is None else expected.value
        if root.free:  # a leaf: its gradient is the seed
            if expected is None:
                self.expected[root.id] = Expected([self._constant(root, seed)])
            return
        self.graph_gradients |= create
        tolerance = self._tolerance(root)
        for i in root.deps:
            node = self.nodes[i]
            if node.free and node.requires_grad:
                value = self.reference.term(Term(root.id, seed, i, seed, False, 0), {})
                term = Term(root.id, seed, i, value, create, tolerance)
                self._add_term(node, term, root.deep, self._reached(i, before))
            elif retain and node.id in self.live:
                value = self.reference.term(Term(root.id, seed, i, seed, False, 0), {})
                term = Term(root.id, seed, i, value, False, tolerance)
                self._add_term(node, term, False, True)
            if node.recorded and not root.deep:
                node.visited = True
        if not root.deep:
            root.visited = True
        if retain:
            if expected is None:
                self.expected[root.id] = Expected([self._constant(root, seed)])
        else:
            self.expected[root.id] = None
        self._compare_with_torch(root, seed)

    def _reached(self, i: int, before: dict[int, Variable | None]) -> bool:
        var = self.live.get(i)
        return var is not None and var.grad is not before.get(i)

    def _refused(self, root: Node) -> bool:
        """Whether backward from ``root`` must raise: an op in its graph whose backward reads
        its inputs (``saves_inputs``) holds a leaf whose data changed since it was recorded.
        An op that reads no input (``add``) does not mind: the gradient is the recorded
        graph's, at the values it recorded (as in PyTorch)."""
        for i in root.deps | {root.id}:
            node = self.nodes[i]
            for k in self._pinned(node):
                if not np.array_equal(self.nodes[node.args[k]].value, node.arg_values[k]):
                    return True
        return False

    def _constant(self, node: Node, value: Array) -> Term:
        return Term(node.id, value, node.id, np.array(value), False, self._tolerance(node))

    def _add_term(self, node: Node, term: Term, uncertain: bool, reached: bool) -> None:
        """Add ``term`` to what ``node.grad`` must hold. A deep pass reaches a leaf only where
        the ops' backward graphs do: a zero term it may or may not add (``uncertain``); it
        did when the pass gave the variable a new ``grad`` (``reached``)."""
        expected = self.expected[node.id]
        zero = _close(term.value, np.zeros_like(term.value), term.tolerance)
        if uncertain and zero and not reached:
            return  # not reached: a zero term left out (its derivative may not be zero)
        if expected is None:
            self.expected[node.id] = Expected([term])
            return
        if not term.differentiable:  # a plain pass adds without recording: no graph remains
            for t in expected.terms:
                t.differentiable = False
        expected.terms.append(term)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def cleargrad(self, data: st.DataObject) -> None:
        node = self._pick(data, lambda n: True, "cleargrad")
        self.live[node.id].cleargrad()
        self.expected[node.id] = None

    def _promotable(self, node: Node) -> bool:
        """A leaf whose gradient is recorded (create_graph) and a first derivative."""
        grad = self.live[node.id].grad
        expected = self.expected[node.id]
        return (
            node.kind == "leaf"
            and grad is not None
            and grad.creator is not None
            and expected is not None
            and not any(t.differentiable and self.nodes[t.root].deep for t in expected.terms)
        )

    @precondition(lambda self: self._has(self._promotable))
    @rule(data=st.data())
    def promote_gradient(self, data: st.DataObject) -> None:
        """Take a leaf's gradient into the program: its own gradient is a second derivative."""
        leaf = self._pick(data, self._promotable, "of leaf")
        grad = self.live[leaf.id].grad
        expected = self.expected[leaf.id]
        assert grad is not None and expected is not None
        terms = [Term(**vars(t)) for t in expected.terms]
        deps: frozenset[int] = frozenset()
        for t in terms:
            if t.differentiable:
                deps |= self.nodes[t.root].deps | {t.root}
        node = Node(
            id=len(self.nodes),
            kind="grad",
            dtype=leaf.dtype,
            value=expected.value,
            requires_grad=True,
            recorded=True,
            terms=terms,
            deps=deps,
            float32=leaf.float32 or any(self.nodes[t.root].float32 for t in terms),
            deep=True,
            inexact=True,
        )
        note(f"node {node.id} = grad of node {leaf.id}")
        event("gradient promoted into the program")
        self._add(node, grad)

    @precondition(lambda self: len(self.live) >= 4)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        node = self._pick(data, lambda n: True, "delete")
        note(f"del node {node.id}")
        del self.live[node.id]

    @precondition(
        lambda self: (
            self.HIGHER_ORDER
            and self._has(
                lambda n: n.recorded and not n.deep and not n.traced and n.id not in self.stale
            )
        )
    )
    @rule(data=st.data(), create=st.booleans())
    def second_derivative(self, data: st.DataObject, create: bool) -> None:
        """backward(create_graph=True), a leaf's gradient taken into the program, and its
        backward: a second derivative (as DeZero's step 33)."""
        root = self._pick(
            data,
            lambda n: n.recorded and not n.deep and not n.traced and n.id not in self.stale,
            "root",
        )
        self._backward(root, data.draw(st.booleans(), label="retain"), True)
        if self._has(self._promotable):
            self.promote_gradient(data)
            self._backward(self.nodes[-1], False, create)

    def _pinned(self, node: Node) -> list[int]:
        """The positions of the leaves whose arrays the op ``node`` pins: a recorded op whose
        backward reads its inputs (``saves_inputs``) pins each leaf it took as a Variable (a
        traced call does for every op: an earlier call's backward may run its forward again)."""
        if node.kind != "op" or not node.recorded or node.op is None:
            return []
        if not node.op.function.saves_inputs and not node.traced_call:
            return []
        return [
            k
            for k, (a, plain) in enumerate(zip(node.args, node.as_array, strict=True))
            if self.nodes[a].kind == "leaf" and not plain
        ]

    def _updatable(self, node: Node) -> bool:
        return node.kind == "leaf" and self.live[node.id].grad is not None

    @precondition(lambda self: not self.graph_gradients and self._has(self._updatable))
    @rule(data=st.data())
    def update_leaf(self, data: st.DataObject) -> None:
        """The book's step: ``x.data -= lr * x.grad.data``. A graph recorded before (and not
        yet through backward) refuses it; a graph recorded before must then refuse backward."""
        leaf = self._pick(data, self._updatable, "update")
        var = self.live[leaf.id]
        assert var.grad is not None
        holders = [n for n in self.nodes if any(n.args[k] == leaf.id for k in self._pinned(n))]
        if data.draw(st.booleans(), label="backward first, as the book does"):
            for n in holders:
                if not n.visited and n.id in self.live and n.id not in self.stale:
                    self._backward(n, data.draw(st.booleans(), label="retain"), False)
        unreleased = [n for n in holders if not n.visited]
        if unreleased and any(n.id in self.live for n in unreleased):
            event("update refused: a graph not yet through backward holds the leaf")
            with pytest.raises(ValueError, match="read-only"):
                var.data -= LEARNING_RATE * var.grad.data
            assert np.array_equal(var.data.astype(np.float64), leaf.value), "unchanged"
            return
        if unreleased:
            event("update skipped")
            return  # held by functions that may or may not be alive: skip
        event("update")
        note(f"node {leaf.id}.data -= lr * grad")
        var.data -= LEARNING_RATE * var.grad.data
        assert var.dtype == leaf.dtype
        before, leaf.value = leaf.value, var.data.astype(np.float64)
        if not np.array_equal(before, leaf.value):  # (a zero gradient changes nothing)
            self.stale |= {n.id for n in self.nodes if leaf.id in n.deps}
        outdated = [i for i in self.live if i in self.stale]
        again = data.draw(st.booleans(), label="backward of an old graph")
        if outdated and again:
            root = self.nodes[data.draw(st.sampled_from(outdated), label="root")]
            self._backward(root, data.draw(st.booleans(), label="retain"), False)

    @precondition(lambda self: len(self.nodes) >= 10)
    @rule(data=st.data())
    def drop_everything(self, data: st.DataObject) -> None:
        self._drop_everything()
        self.leaf(data)  # and start a new program

    def _drop_everything(self, *, check: bool = True) -> None:
        """Drop every variable: reference counting alone must free every graph (the
        create_graph cycle ``x -> x.grad -> ... -> x`` is broken by clearing gradients first,
        as the README documents: of every variable in the graphs, which includes an earlier
        gradient the program used as a leaf), and every pinned array must be writable again."""
        _clear_gradients([ref() for ref in self.tracked])
        self.live.clear()
        self.nodes.clear()
        self.expected.clear()
        self.stale.clear()
        self.graph_gradients = False
        alive = [ref() for ref in self.tracked if ref() is not None]
        self.tracked.clear()
        writable = all(a.flags.writeable for a in self.arrays)
        self.arrays.clear()
        if check:
            assert not alive, f"still alive after dropping everything: {alive[:3]}"
            assert writable, "an array given to Variable(...) stayed read-only"

    # ------------------------------------------------------------------ the check
    @invariant()
    def every_gradient_is_right(self) -> None:
        EngineModel.steps += 1
        grads = [(i, var.grad) for i, var in self.live.items() if var.grad is not None]
        for k, (i, g) in enumerate(grads):  # independent arrays: none shares another's memory
            for j, other in grads[k + 1 :]:
                assert not np.shares_memory(g.data, other.data), f"nodes {i} and {j} share a grad"
            if not self.graph_gradients:  # (a recorded graph may read a gradient: read-only)
                assert g.data.flags.writeable, f"node {i}: a read-only gradient"
        for i, var in self.live.items():
            node = self.nodes[i]
            expected = self.expected[i]
            grad = var.grad
            if expected is None:
                assert grad is None, f"node {i}: grad should be None, is {grad}"
                continue
            assert grad is not None, f"node {i}: grad is None, should be {expected.value}"
            assert grad.dtype == node.dtype, f"node {i}: grad dtype {grad.dtype} != {node.dtype}"
            assert grad.shape == expected.value.shape
            assert _close(grad.data, expected.value, expected.tolerance), (
                f"node {i}: grad {grad.data} != {expected.value}"
            )

    # ------------------------------------------------------------------ PyTorch
    def _compare_with_torch(self, root: Node, seed: Array) -> None:
        """The reference's first-order terms agree with ``torch.autograd.grad``."""
        if torch is None or root.deep:
            return
        ops = [self.nodes[i] for i in root.deps | {root.id}]
        if any(n.recorded and n.op is not None and n.op.name not in TORCH_OPS for n in ops):
            return
        leaves = [n for n in ops if n.free and n.requires_grad]
        if not leaves:
            return
        tensors: dict[int, Any] = {
            n.id: torch.tensor(n.value, dtype=torch.float64, requires_grad=True) for n in leaves
        }

        def arg(node: Node, k: int) -> Any:
            """Input ``k`` of ``node``: a leaf at the value the graph recorded (see
            ``Reference._arg``), differentiable when the leaf is one of ``leaves``."""
            a = node.args[k]
            if not self.nodes[a].free:
                return build(a)
            recorded = torch.tensor(node.arg_values[k], dtype=torch.float64)
            if a not in tensors:
                return recorded
            return tensors[a] + (recorded - tensors[a].detach())

        def build(i: int) -> Any:
            if i in tensors:
                return tensors[i]
            node = self.nodes[i]
            assert node.op is not None and not node.free
            args = [arg(node, k) for k in range(len(node.args))]
            tensors[i] = TORCH_OPS[node.op.name](*args, **node.params) * node.scale
            return tensors[i]

        out = build(root.id)
        grads = torch.autograd.grad(
            (out * torch.tensor(seed)).sum(), [tensors[n.id] for n in leaves], allow_unused=True
        )
        event("compared with PyTorch")
        for node, g in zip(leaves, grads, strict=True):
            reference = self.reference.term(Term(root.id, seed, node.id, seed, False, 0), {})
            got = np.zeros(node.value.shape) if g is None else g.numpy()
            assert _close(got, reference, 1e-5), (node.id, got, reference)


class FirstOrderModel(EngineModel):
    """The same without create_graph: every program may update its data as the book does."""

    HIGHER_ORDER = False


# The adversary's steps cost more (every op, central differences of larger programs).
for _machine, _examples in ((EngineModel, "300"), (FirstOrderModel, "300"), (Adversary, "60")):
    _machine.TestCase.settings = settings(
        max_examples=int(os.environ.get("DEZERO_EXT_MODEL_EXAMPLES", _examples)),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
TestEngineModel = EngineModel.TestCase
TestFirstOrderModel = FirstOrderModel.TestCase
TestAdversary = Adversary.TestCase


# Typed here: older Hypothesis releases leave run_state_machine_as_test unannotated.
_run_machine: Callable[..., None] = run_state_machine_as_test


def _soak_settings() -> settings:
    return settings(
        max_examples=200,
        stateful_step_count=50,
        deadline=None,
        derandomize=False,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.slow
def test_engine_model_soak() -> None:
    """The models under a long random run: ``DEZERO_EXT_SOAK_STEPS`` steps in all (100,000 by
    default), the first model, its first-order variant and the adversary in turn, run ``r``
    with Hypothesis seed ``DEZERO_EXT_SOAK_SEED + r`` (0 by default). ``pytest -m slow -k
    soak -s`` prints each run and the totals; a failure names its run's seed."""
    target = int(os.environ.get("DEZERO_EXT_SOAK_STEPS", "100000"))
    first_seed = int(os.environ.get("DEZERO_EXT_SOAK_SEED", "0"))
    EngineModel.steps = Adversary.steps = 0
    runs = 0
    while EngineModel.steps + Adversary.steps < target:
        machine = (EngineModel, FirstOrderModel, Adversary, Adversary)[runs % 4]
        run_seed = first_seed + runs
        try:
            _run_machine(seed(run_seed)(machine), settings=_soak_settings())
        except BaseException as error:
            error.add_note(f"engine model soak: run {runs}, {machine.__name__}, seed {run_seed}")
            raise
        runs += 1
        print(
            f"soak run {runs} ({machine.__name__}, seed {run_seed}): "
            f"{EngineModel.steps} + {Adversary.steps} steps",
            flush=True,
        )
    print(
        f"engine model soak: {EngineModel.steps + Adversary.steps} steps ({EngineModel.steps} "
        f"first model, {Adversary.steps} adversary) in {runs} runs, seeds {first_seed} to "
        f"{first_seed + runs - 1}, torch {'compared' if torch is not None else 'absent'}, "
        "no discrepancy"
    )


# ===================================================== threads
def _gradients(program: Program) -> list[Array]:
    xs = [Variable(np.array(a)) for a in program.leaves]
    total = None
    for y in program(*xs):
        s = y.sum()
        total = s if total is None else total + s
    assert total is not None
    total.backward()
    return [np.zeros(x.shape) if x.grad is None else x.grad.data for x in xs]


@settings(max_examples=3, deadline=None)
@given(st.lists(programs(), min_size=4, max_size=6))
def test_independent_graphs_in_threads_give_the_serial_gradients(
    graphs: list[Program],
) -> None:
    """Independent graphs built and differentiated at once in several threads give exactly
    the gradients they give one after another."""
    serial = [_gradients(p) for p in graphs]
    barrier = threading.Barrier(4)

    def run(worker: int) -> list[list[Array]]:
        barrier.wait()  # start together
        return [_gradients(graphs[(worker + k) % len(graphs)]) for k in range(2 * len(graphs))]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(4)))
    for worker, grads in enumerate(results):
        for k, got in enumerate(grads):
            want = serial[(worker + k) % len(graphs)]
            assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True)), (worker, k)
