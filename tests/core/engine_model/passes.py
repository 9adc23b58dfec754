"""The adversary's backward passes and its check (a mixin of ``Adversary``).

A backward pass starts from any recorded node with a seed of any kind: none (ones), a
Variable of the root's shape (its dtype or float32, cast to the root's), or a wrong one (of
a broadcastable or another shape, an ndarray, a number), which must raise naming the seed
and leave every gradient as it was. A graph that guards a free input (``saves_inputs``, or
a view of its memory) whose values changed since it was recorded must refuse with a
``RuntimeError``; otherwise each free requires_grad node it reaches gains one term.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from dezero_ext import Array, Variable, get_registry
from dezero_ext.testing import array_in
from tests.core.engine_model.program import F32_TOL, F64_TOL, Node, Reference, Term, close
from tests.core.engine_model.torch_check import check_terms

BAD_SEEDS = ("broadcastable", "wrong shape", "ndarray", "number")


class Passes:
    """Backward passes, seeds and the check after every step."""

    steps = 0  # counted across runs, for the soak's report

    nodes: list[Node]
    live: dict[int, Variable]
    expected: dict[int, list[Term] | None]
    reference: Reference
    _pick: Callable[[st.DataObject, Callable[[Node], bool], str], Node]
    _has: Callable[[Callable[[Node], bool]], bool]

    @precondition(lambda self: self._has(lambda n: n.recorded))
    @rule(data=st.data(), kind=st.sampled_from(["none", "none", "right", "float32", *BAD_SEEDS]))
    def backward(self, data: st.DataObject, kind: str) -> None:
        root = self._pick(data, lambda n: n.recorded, "root")
        var = self.live[root.id]
        seed = self._seed(data, root, kind)
        var.grad = seed  # type: ignore[assignment]  # a wrong seed on purpose
        before = {i: v.grad for i, v in self.live.items() if i != root.id}
        refused = self._refused(root)
        note(f"node {root.id}.backward() seed {kind}{' (refused)' if refused else ''}")
        if kind in BAD_SEEDS or refused:
            event(f"backward refused: {'seed' if kind in BAD_SEEDS else 'changed leaf'}")
            error = (TypeError, ValueError) if kind in BAD_SEEDS else RuntimeError
            match = "seed" if kind in BAD_SEEDS else "changed after the graph was recorded"
            with pytest.raises(error, match=match):
                var.backward()
            assert all(v.grad is before[i] for i, v in self.live.items() if i != root.id)
            var.grad = None
            return
        event(f"backward, seed {kind}")
        var.backward()
        seed_value = (
            seed._data.astype(root.dtype).astype(np.float64)
            if isinstance(seed, Variable)
            else np.ones(root.shape)
        )
        added: dict[int, Term] = {}
        for leaf in root.deps:
            if leaf not in self.live:
                continue
            tolerance = F32_TOL if root.float32 or self.nodes[leaf].float32 else F64_TOL
            term = added[leaf] = self.reference.term(root.id, seed_value, leaf, tolerance)
            terms = self.expected[leaf]
            self.expected[leaf] = [term] if terms is None else [*terms, term]
        if check_terms(self.nodes, root, seed_value, added):
            event("compared with PyTorch")
        for i in root.graph:
            self.nodes[i].visited = True
        var.grad = None

    @precondition(lambda self: self._has(lambda n: n.recorded))
    @rule(data=st.data())
    def backward_plain(self, data: st.DataObject) -> None:
        self.backward(data, "none")

    def _seed(self, data: st.DataObject, root: Node, kind: str) -> object:
        values = data.draw(array_in(get_registry().get("add").domain(0), root.shape), label="seed")
        if kind == "none":
            return None
        if kind in ("right", "float32"):
            return Variable(values.astype(np.float32 if kind == "float32" else root.dtype))
        if kind == "broadcastable":
            return Variable(values.reshape((1, *root.shape)))
        if kind == "wrong shape":
            return Variable(np.ones(int(np.prod(root.shape)) + 1))
        return values if kind == "ndarray" else 1.0

    def _refused(self, root: Node) -> bool:
        """Whether a function of ``root``'s graph guards a free input whose values changed
        since it was recorded (README: backward then raises)."""
        for i in root.graph:
            node = self.nodes[i]
            for k in node.guarded:
                s = node.inputs[k]
                assert s.src is not None and s.value is not None
                if not np.array_equal(self.nodes[s.src].value, s.value):
                    return True
        return False

    @invariant()
    def every_gradient_is_right(self) -> None:
        type(self).steps += 1
        for i, var in self.live.items():
            node = self.nodes[i]
            if node.free:
                assert np.array_equal(var._data.astype(np.float64), node.value), (
                    f"node {i} holds {var._data}, not {node.value}"
                )
            terms = self.expected[i]
            grad = var.grad
            if not node.free:
                continue
            if terms is None:
                assert grad is None, f"node {i}: grad should be None, is {grad}"
                continue
            assert grad is not None, f"node {i}: grad is None"
            assert grad.dtype == node.dtype and grad.shape == node.shape, (grad.dtype, grad.shape)
            tolerance = max(t.tolerance for t in terms)
            if all(t.full is not None for t in terms):
                full: Array = np.sum([t.full for t in terms if t.full is not None], axis=0)
                assert close(grad._data, full, tolerance), f"node {i}: grad {grad._data} != {full}"
            assert node.directions is not None
            for j, d in enumerate(node.directions):
                got = float(np.sum(grad._data.astype(np.float64) * d))
                want = sum(t.projections[j] for t in terms)
                scale = max(1.0, float(np.sum(np.abs(grad._data) * np.abs(d))))
                assert abs(got - want) <= tolerance * scale, (
                    f"node {i}: <grad, d{j}> {got} != {want}"
                )
