"""The adversary's writes, and what README's "Data a graph needs cannot change under it"
promises for each:

- through ``x.data`` (``x.data[...] = v``, ``x.data -= d``): ``ValueError: ... read-only``
  while a function that holds the leaf's memory has not been through a backward pass; after
  one (only released functions hold it) a private copy is written (copy-on-write: the leaf no
  longer shows its base); with no function holding it, in place;
- through the array given to ``Variable(...)`` or its base (NumPy in place, ``base[...] =``):
  read-only while any function holding that memory lives, through backward or not;
- ``x.data = new_array``: always allowed for a leaf;
- an op output: ``y.data[...] = v`` raises ``ValueError`` (read-only), ``y.data = a``
  ``AttributeError``;
- a plain array passed to an op (a constant): always writable, and no gradient changes.

A graph that then reads changed data must refuse backward (``adversary._refused``); one that
does not gives the gradient at the values it recorded: the invariant checks both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from dezero_ext import Array, Variable
from dezero_ext.opdef import Domain
from dezero_ext.testing import array_in
from tests.core.engine_model.program import Node

if TYPE_CHECKING:
    from collections.abc import Sequence

NEW_VALUES = Domain(-1.0, 1.0)


def held(nodes: Sequence[Node], token: object) -> list[Node]:
    """The live recorded functions that pin the memory ``token`` names."""
    return [n for n in nodes if n.recorded and token in n.pins and n.alive]


def _assign(var: Variable, route: str, new: Array) -> None:
    if route == "setitem":
        var.data[...] = new
    else:
        var.data -= new


class Writes:
    """The write rules (a mixin of ``Adversary``)."""

    nodes: list[Node]
    live: dict[int, Variable]
    arrays: list[Array]
    constants: list[Array]
    _pick: Callable[[st.DataObject, Callable[[Node], bool], str], Node]
    _has: Callable[[Callable[[Node], bool]], bool]

    @precondition(lambda self: self._has(lambda n: n.free))
    @rule(data=st.data(), route=st.sampled_from(["setitem", "isub", "rebind", "given", "base"]))
    def write_leaf(self, data: st.DataObject, route: str) -> None:
        node = self._pick(data, lambda n: n.free, "write to")
        if route == "base" and node.base is None:
            route = "given"
        if route == "given" and node.given is None:
            route = "setitem"
        new: Array = data.draw(array_in(NEW_VALUES, node.shape), label="new").astype(node.dtype)
        note(f"write node {node.id} ({route})")
        if route in ("setitem", "isub"):
            self._write_data(node, route, new)
        elif route == "rebind":
            self.live[node.id].data = new
            node.given, node.base, node.view, node.attached = new, None, None, True
            node.memory = node.base_memory = object()
            node.value = new.astype(np.float64)
            self.arrays.append(new)
            event("write: rebind")
        else:
            self._write_memory(node, route, new)

    def _write_data(self, node: Node, route: str, new: Array) -> None:
        """``x.data[...] = new`` or ``x.data -= new``."""
        var = self.live[node.id]
        holders = held(self.nodes, node.memory)
        if any(not n.visited for n in holders):
            event("write through x.data refused: read-only")
            with pytest.raises(ValueError, match="read-only"):
                _assign(var, route, new)
            return
        expected = new.copy() if route == "setitem" else node.value.astype(node.dtype) - new
        _assign(var, route, new)
        if holders:  # released functions only: the leaf now has a private copy
            node.memory, node.attached = object(), False
            event("write through x.data: copy on write")
        else:
            event("write through x.data: in place")
        node.value = np.asarray(expected, dtype=np.float64)

    def _write_memory(self, node: Node, route: str, new: Array) -> None:
        """NumPy in place on the array given to ``Variable(...)``, or on its base."""
        assert node.given is not None
        given = node.given

        def write() -> None:
            if route == "base":
                assert node.base is not None and node.view is not None
                node.view(node.base)[...] = new
            else:
                given.__imul__(0.5)  # NumPy in place (np.multiply(out=) refuses a 0-d out)

        if held(self.nodes, node.base_memory):
            event(f"write through the {route} array refused: read-only")
            with pytest.raises(ValueError, match="read-only"):
                write()
            return
        write()
        event(f"write through the {route} array")
        if node.attached:
            node.value = given.astype(np.float64)

    @precondition(lambda self: self._has(lambda n: n.recorded))
    @rule(data=st.data(), assign=st.booleans())
    def write_output(self, data: st.DataObject, assign: bool) -> None:
        """An op output cannot be written nor reassigned."""
        node = self._pick(data, lambda n: n.recorded, "write to output")
        var = self.live[node.id]
        if assign:
            with pytest.raises(AttributeError, match="cannot assign"):
                var.data = np.zeros(node.shape, node.dtype)
        else:
            with pytest.raises(ValueError, match="read-only"):
                var.data[...] = 0.0

    @precondition(lambda self: bool(self.constants))
    @rule(data=st.data())
    def write_constant(self, data: st.DataObject) -> None:
        """The caller refills a buffer it passed to an op: no gradient may change."""
        buffer = data.draw(st.sampled_from(self.constants), label="constant")
        buffer[...] = data.draw(array_in(NEW_VALUES, buffer.shape), label="refill")
        event("a constant refilled")
