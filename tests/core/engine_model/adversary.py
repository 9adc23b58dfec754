"""The adversary: a state machine that draws from every registered op and attacks the
README's "What backward guarantees" promises (see ``program.py`` for its program and
reference, ``writes.py`` for the writes it attempts).

Each step adds a leaf (its own array, or a view of a base array the program keeps: flat,
reversed, transposed, a slice), applies any op (drawn with its declaration's sampler or
shape rule and domains, recorded or under ``no_grad``, its inputs live nodes, bridges,
new leaves or plain arrays), takes a view (reshape, ``.T``, transpose, slicing,
expand_dims, flatten, broadcast_to), writes through a leaf, its base, the array given to
``Variable``, an op output or a constant, runs backward with a seed of any kind, clears
or deletes. After every step each leaf's ``grad`` must equal the sum of the terms the
model expects, and each free node's array must hold the values the model says.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from dezero_ext import Array, OpDef, ShapeRule, Variable, get_registry, no_grad
from dezero_ext.testing import array_in, cases
from tests.core.engine_model.passes import Passes
from tests.core.engine_model.program import (
    F32_TOL,
    F64_TOL,
    VIEW_OPS,
    Input,
    Node,
    Reference,
    Term,
    close,
    owner,
    pool,
    safe,
    safe_input,
)
from tests.core.engine_model.writes import Writes, held

POOL = pool()
SHAPES: list[tuple[int, ...]] = [(), (1,), (3,), (2, 1), (1, 3), (2, 3), (0,), (2, 0)]
DTYPES = [np.dtype(np.float64), np.dtype(np.float32)]


@st.composite
def view_params(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[str, dict[str, object]]:
    """A view op and parameters that fit ``shape``."""
    ndim = len(shape)
    name = draw(st.sampled_from(VIEW_OPS))
    if name == "reshape":
        size = int(np.prod(shape))
        return name, {"shape": draw(st.sampled_from([(size,), (1, size), shape[::-1], (-1,)]))}
    if name == "transpose":
        axes = draw(st.none() | st.permutations(range(ndim)).map(tuple))
        return name, {"axes": axes}
    if name == "get_item":
        index = []
        for side in shape:
            start = draw(st.integers(0, max(side - 1, 0)))
            index.append(slice(start, None, draw(st.sampled_from([1, -1, 2]))))
        if shape and shape[0] > 0 and draw(st.booleans()):
            index[0] = draw(st.integers(-shape[0], shape[0] - 1))  # type: ignore[call-overload]  # an int index
        return name, {"index": tuple(index)}
    if name == "expand_dims":
        return name, {"axis": draw(st.integers(-ndim - 1, ndim))}
    if name == "flatten":
        return name, {}
    grown = tuple(3 if s == 1 else s for s in shape)
    return name, {"shape": draw(st.sampled_from([(2, *shape), grown]))}


class Adversary(Passes, Writes, RuleBasedStateMachine):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        gc.disable()  # every graph must be freed by reference counting alone
        self.nodes: list[Node] = []
        self.live: dict[int, Variable] = {}
        self.expected: dict[int, list[Term] | None] = {}
        self.reference = Reference(self.nodes)
        self.tracked: list[weakref.ref[Any]] = []
        self.arrays: list[
            Array
        ] = []  # arrays given to Variable(...) and bases: writable at the end
        self.constants: list[Array] = []  # plain arrays passed to ops (the caller's buffers)

    def teardown(self) -> None:
        try:
            self._drop(check=False)
        finally:
            gc.enable()

    # ------------------------------------------------------------------ helpers
    def _pick(self, data: st.DataObject, where: Any, label: str) -> Node:
        ids = [i for i in self.live if where(self.nodes[i])]
        return self.nodes[data.draw(st.sampled_from(ids), label=label)]

    def _has(self, where: Any) -> bool:
        return any(where(self.nodes[i]) for i in self.live)

    def _add(self, node: Node, var: Variable) -> None:
        self.nodes.append(node)
        self.live[node.id] = var
        self.expected[node.id] = None
        self.tracked.append(weakref.ref(var))
        if var.creator is not None:
            node.creator = weakref.ref(var.creator)
            self.tracked.append(node.creator)

    def _new_leaf(self, data: st.DataObject, value: Array, requires_grad: bool) -> Node:
        """A leaf holding ``value`` (in its dtype): its own array or a view of a base."""
        shape, dtype = value.shape, value.dtype
        forms = ["own", "flat", "slice"] + (["reversed"] if value.ndim == 1 else [])
        form = data.draw(st.sampled_from(forms + (["transposed"] if value.ndim == 2 else [])))
        base: Array | None = None
        view = None
        if form == "flat":
            base, view = value.reshape(-1).copy(), (lambda b: b.reshape(shape))
        elif form == "slice":
            base = np.concatenate([np.zeros(1, dtype), value.reshape(-1)])
            view = lambda b: b[1:].reshape(shape)  # noqa: E731
        elif form == "reversed":
            base, view = value[::-1].copy(), (lambda b: b[::-1])
        elif form == "transposed":
            base, view = value.T.copy(), (lambda b: b.T)
        given = np.array(value) if view is None or base is None else view(base)
        assert np.array_equal(given, value)
        var = Variable(given, requires_grad=requires_grad)
        self.arrays += [given] if base is None else [given, base]
        token = object()
        rng = np.random.default_rng(len(self.nodes))
        node = Node(
            id=len(self.nodes),
            dtype=dtype,
            shape=shape,
            requires_grad=requires_grad,
            recorded=False,
            value=value.astype(np.float64),
            float32=dtype == np.float32,
            deps=frozenset({len(self.nodes)}) if requires_grad else frozenset(),
            given=given,
            base=base,
            view=view,
            memory=token,
            base_memory=token,
            directions=(rng.uniform(-1.5, 1.5, shape), rng.uniform(-1.5, 1.5, shape)),
        )
        note(f"node {node.id} = leaf {shape} {dtype} ({form}, requires_grad={requires_grad})")
        self._add(node, var)
        return node

    # ------------------------------------------------------------------ rules: making
    @initialize(data=st.data())
    def first_leaf(self, data: st.DataObject) -> None:
        self.leaf(data)

    @precondition(lambda self: sum(self.nodes[i].given is not None for i in self.live) < 5)
    @rule(data=st.data())
    def leaf(self, data: st.DataObject) -> None:
        shape = data.draw(st.sampled_from(SHAPES), label="shape")
        dtype: np.dtype[Any] = data.draw(st.sampled_from(DTYPES), label="dtype")
        value = data.draw(array_in(get_registry().get("add").domain(0), shape), label="x")
        requires_grad = data.draw(st.booleans() | st.just(True), label="requires_grad")
        self._new_leaf(data, np.asarray(value / 3, dtype=dtype), requires_grad)

    @precondition(lambda self: bool(self.live))
    @rule(
        data=st.data(), op=st.sampled_from(POOL), mode=st.sampled_from(["record"] * 3 + ["no_grad"])
    )
    def apply(self, data: st.DataObject, op: OpDef, mode: str) -> None:
        event(f"apply {op.name}")
        dtypes = [d for d in ("float64", "float32") if d in op.dtypes]
        dtype = data.draw(st.sampled_from(dtypes), label="dtype")
        live_shaped = (
            op.sample is None
            and op.shape_rule is not ShapeRule.MATMUL
            and data.draw(st.booleans(), label="shapes of a live node")
        )
        first: Node | None = None
        if live_shaped:
            first = self._pick(data, lambda n: True, "shaped like")
            arrays, params = self._live_case(data, op, first.shape, dtype)
            if arrays is None:
                return
        else:
            case = data.draw(cases(op, dtype), label="case")
            arrays, params = [np.asarray(a) for a in case.inputs], dict(case.params)
        sources = [
            self._source(data, op, k, a, first if k == 0 else None) for k, a in enumerate(arrays)
        ]
        values = [self._source_value(s) for s in sources]
        if not safe(op, values, 0.5):
            event("apply skipped: inputs near a kink, pole or tie")
            return
        self._record(data, op, params, sources, mode)

    # (the same rule twice: ops and backward passes are drawn as often as the other rules)
    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), op=st.sampled_from(POOL))
    def apply_recorded(self, data: st.DataObject, op: OpDef) -> None:
        self.apply(data, op, "record")

    def _live_case(
        self, data: st.DataObject, op: OpDef, shape: tuple[int, ...], dtype: str
    ) -> tuple[list[Array] | None, dict[str, object]]:
        shapes = [shape] * op.arity
        if op.shape_rule is ShapeRule.BROADCAST:
            options = [shape, (), shape[-1:], (1,) * len(shape)]
            shapes[1:] = [data.draw(st.sampled_from(options)) for _ in shapes[1:]]
        params: dict[str, object] = {}
        if op.shape_rule is ShapeRule.REDUCTION:
            if 0 in shape and op.name != "sum":
                return None, params  # max, mean ... of nothing: NumPy's error or nan
            axes = st.none() | st.integers(-len(shape), len(shape) - 1) if shape else st.none()
            params = {"axis": data.draw(axes), "keepdims": data.draw(st.booleans())}
        arrays = [data.draw(array_in(op.domain(k), s, dtype)) for k, s in enumerate(shapes)]
        return arrays, params

    def _source(
        self, data: st.DataObject, op: OpDef, k: int, a: Array, first: Node | None
    ) -> Input:
        """Where input ``k`` (values ``a``) comes from: a live node as it is, a bridge from
        one, a new leaf, or a plain array."""
        direct = [
            i
            for i in self.live
            if self.nodes[i].shape == a.shape
            and op.sample is None
            and ("float32" in op.dtypes or self.nodes[i].dtype == np.float64)
            and safe_input(op, k, self.nodes[i].value)
        ]
        if first is not None and first.id in direct and data.draw(st.booleans()):
            return Input("node", first.id)
        kinds = ["bridge", "bridge", "leaf", "const"] + (["node", "node"] if direct else [])
        kind = data.draw(st.sampled_from(kinds), label=f"input {k}")
        if kind == "node":
            return Input("node", data.draw(st.sampled_from(direct)))
        if kind == "leaf":
            requires_grad = data.draw(st.booleans() | st.just(True))
            return Input("node", self._new_leaf(data, a, requires_grad).id)
        if kind == "const":
            return Input("const", None, a)
        src = first if first is not None else self._pick(data, lambda n: True, "bridge from")
        total = float(np.sum(src.value))
        eps = max(op.domain(k).margin, 0.01) / 4 / (1.0 + abs(total))
        return Input("bridge", src.id, a.astype(np.float64), eps, src.value.copy())

    def _source_value(self, s: Input) -> Array:
        if s.kind == "node":
            assert s.src is not None
            return self.nodes[s.src].value
        return self.reference.input(s, {}, {})

    def _operand(self, s: Input, dtype: np.dtype[Any]) -> Any:
        if s.kind == "node":
            return self.live.get(s.source)
        assert s.value is not None
        if s.kind == "const":
            buffer = s.value.copy()  # the caller's buffer, which it may refill later
            self.constants.append(buffer)
            return buffer
        v = self.live[s.source]
        return v.sum() * s.eps + s.value.astype(dtype)

    def _record(
        self,
        data: st.DataObject,
        op: OpDef,
        params: dict[str, object],
        sources: list[Input],
        mode: str,
    ) -> None:
        """Apply ``op`` in the engine and add its output to the model."""
        dtype = np.result_type(
            *[s.value.dtype if s.value is not None else self.nodes[s.source].dtype for s in sources]
        )
        operands = [self._operand(s, dtype) for s in sources]
        if any(o is None for o in operands):
            return
        if mode == "no_grad":
            with no_grad():
                outputs = op.outputs(*operands, **params)
        else:
            outputs = op.outputs(*operands, **params)
        index = (
            data.draw(st.integers(0, len(outputs) - 1), label="output") if len(outputs) > 1 else 0
        )
        var = outputs[index]
        del outputs
        inputs = tuple(
            Input("node", s.src, self.nodes[s.source].value.copy()) if s.kind == "node" else s
            for s in sources
        )
        flow = [
            s.source for s in inputs if s.kind != "const" and self.nodes[s.source].requires_grad
        ]
        recorded = var.creator is not None
        assert recorded == (mode == "record" and bool(flow)), "recorded exactly when it must be"
        arrays = [o._data if isinstance(o, Variable) else o for o in operands]
        if not recorded and any(owner(var._data) is owner(a) for a in arrays):
            event("apply skipped: an unrecorded view")  # a second name for the same memory
            return
        node = Node(
            id=len(self.nodes),
            dtype=var.dtype,
            shape=var.shape,
            requires_grad=var.requires_grad,
            recorded=recorded,
            value=np.zeros(()),
            op=op,
            params=params,
            inputs=inputs,
            index=index,
            float32=any(self.nodes[s.src].float32 for s in inputs if s.src is not None)
            or var.dtype == np.float32,
        )
        node.value = Reference.apply(node, [self.reference.input(s, {}, {}) for s in inputs])
        tolerance = F32_TOL if node.float32 else F64_TOL
        assert var.shape == node.value.shape, (var.shape, node.value.shape)
        if not np.isfinite(node.value).all():  # the mean of nothing: NumPy's nan
            assert np.array_equal(np.isnan(var._data), np.isnan(node.value)), op.name
            event("apply skipped: nan")
            return
        assert close(var._data, node.value, tolerance), (
            f"{op.name} {params}: forward {var._data} != reference {node.value}"
        )
        note(
            f"node {node.id} = {op.name}{tuple((s.kind, s.src) for s in inputs)} {params} ({mode})"
        )
        if recorded:
            node.deps = frozenset().union(*[self.nodes[i].deps for i in flow])
            node.graph = frozenset({node.id}).union(*[self.nodes[i].graph for i in flow])
            guarded = [
                k
                for k, (s, a) in enumerate(zip(inputs, operands, strict=True))
                if s.kind == "node"
                and self.nodes[s.source].free
                and (op.function.saves_inputs or owner(var._data) is owner(a._data))
            ]
            node.guarded = tuple(guarded)
            node.pins = tuple(self.nodes[inputs[k].source].memory for k in guarded)
        else:  # a leaf for the engine: the values it holds (float32 rounding included)
            node.value = var._data.astype(np.float64)
            node.memory = node.base_memory = object()
            node.deps = frozenset({node.id}) if node.requires_grad else frozenset()
            rng = np.random.default_rng(node.id)
            node.directions = (
                rng.uniform(-1.5, 1.5, node.shape),
                rng.uniform(-1.5, 1.5, node.shape),
            )
        self._add(node, var)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def view(self, data: st.DataObject) -> None:
        """A view op on a live node as it is (a leaf's memory shown by an op output)."""
        node = self._pick(data, lambda n: True, "view of")
        name, params = data.draw(view_params(node.shape), label="view")
        self._record(data, get_registry().get(name), params, [Input("node", node.id)], "record")

    # ------------------------------------------------------------------ rules: backward
    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def cleargrad(self, data: st.DataObject) -> None:
        node = self._pick(data, lambda n: True, "cleargrad")
        self.live[node.id].cleargrad()
        self.expected[node.id] = None

    @precondition(lambda self: len(self.live) >= 4)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        node = self._pick(data, lambda n: True, "delete")
        note(f"del node {node.id}")
        del self.live[node.id]

    @precondition(lambda self: len(self.nodes) >= 12)
    @rule(data=st.data())
    def drop_everything(self, data: st.DataObject) -> None:
        self._drop()
        self.leaf(data)

    def _drop(self, *, check: bool = True) -> None:
        """Drop every variable: reference counting alone frees every graph, and every array
        the program gave to ``Variable(...)`` (and every base) is writable again."""
        self.live.clear()
        self.nodes.clear()
        self.expected.clear()
        alive = [ref() for ref in self.tracked if ref() is not None]
        self.tracked.clear()
        writable = all(a.flags.writeable for a in self.arrays)
        self.arrays.clear()
        self.constants.clear()
        if check:
            assert not alive, f"still alive after dropping everything: {alive[:3]}"
            assert writable, "an array given to Variable(...) stayed read-only"


__all__ = ["Adversary", "held"]
