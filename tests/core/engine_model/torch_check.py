"""The adversary's reference against ``torch.autograd``: when PyTorch is installed and every
op of a backward pass's graph has a PyTorch version here, each term the model expects (from
central differences) must agree with PyTorch's gradient of the same program, built from the
values every op recorded (as ``Reference`` does)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from dezero_ext import Array
from tests.core.engine_model.program import Input, Node, Term, close

torch: Any
try:
    torch = importlib.import_module("torch")
except ImportError:  # the comparison runs when PyTorch is installed
    torch = None

TORCH_TOL = 1e-5
_UNARY = ("exp", "sin", "cos", "tan", "tanh", "log", "log1p", "sqrt", "abs", "neg", "square")


def _t(a: object) -> Any:
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _dims(x: Any, axis: object) -> tuple[int, ...] | None:
    if axis is None:
        return tuple(range(x.dim()))
    if axis == ():
        return None  # NumPy reduces nothing, PyTorch everything: not compared
    return tuple(axis) if isinstance(axis, tuple) else (int(axis),)  # type: ignore[call-overload]


def _reduce(name: str) -> Callable[..., Any]:
    def apply(x: Any, axis: object = None, keepdims: bool = False) -> Any:
        dims = _dims(x, axis)
        if dims is None:
            raise NotImplementedError
        if not dims:  # a 0-d input
            return x
        fn = {"sum": torch.sum, "mean": torch.mean, "logsumexp": torch.logsumexp}.get(name)
        if fn is not None:
            return fn(x, dim=dims, keepdim=keepdims)
        return (torch.amax if name == "max" else torch.amin)(x, dim=dims, keepdim=keepdims)

    return apply


def _get_item(x: Any, index: Any) -> Any:
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, slice) and (p.step or 1) < 0 for p in parts):
        raise NotImplementedError  # PyTorch has no negative steps
    return x[index]


def _ops() -> dict[str, Callable[..., Any]]:
    if torch is None:
        return {}
    f = torch.nn.functional
    ops: dict[str, Callable[..., Any]] = {name: getattr(torch, name) for name in _UNARY}
    ops.update(
        {
            "sigmoid": torch.sigmoid,
            "relu": torch.relu,
            "add": torch.add,
            "sub": torch.sub,
            "mul": torch.mul,
            "div": torch.div,
            "power": torch.pow,
            "maximum": torch.maximum,
            "minimum": torch.minimum,
            "matmul": torch.matmul,
            "mean_squared_error": lambda a, b: torch.mean((a - b) ** 2),
            "add_scalar": lambda x, c: x + c,
            "mul_scalar": lambda x, c: x * c,
            "div_scalar": lambda x, c: x / c,
            "rsub_scalar": lambda x, c: c - x,
            "rdiv_scalar": lambda x, c: c / x,
            "pow": lambda x, c: x**c,
            "rpow_scalar": lambda x, c: torch.pow(torch.tensor(float(c), dtype=x.dtype), x),
            "transpose": lambda x, axes=None: x.permute(
                tuple(range(x.dim()))[::-1] if axes is None else tuple(axes)
            ),
            "get_item": _get_item,
            "broadcast_to": lambda x, shape: torch.broadcast_to(x, tuple(shape)),
            "softmax": lambda x, axis=1: torch.softmax(x, dim=axis),
            "log_softmax": lambda x, axis=1: torch.log_softmax(x, dim=axis),
            "leaky_relu": lambda x, slope=0.2: f.leaky_relu(x, slope),
            "clip": lambda x, low=None, high=None: torch.clamp(x, low, high),
            "linear": lambda x, w, b=None: x @ w if b is None else x @ w + b,
            "binary_cross_entropy": lambda p, t: f.binary_cross_entropy(p, _t(t)),
            "sigmoid_cross_entropy": lambda x, t: f.binary_cross_entropy_with_logits(x, _t(t)),
            "softmax_cross_entropy": lambda x, t: f.cross_entropy(x, torch.tensor(t)),
        }
    )
    ops.update({name: _reduce(name) for name in ("sum", "mean", "max", "min", "logsumexp")})
    return ops


TORCH_OPS = _ops()
_RESHAPES = ("reshape", "flatten", "expand_dims")  # the output's shape is the model's


def comparable(nodes: list[Node], root: Node) -> bool:
    """Whether every op of ``root``'s graph has a PyTorch version here."""
    ops = [nodes[i].op for i in root.graph]
    return torch is not None and all(
        op is not None
        and (op.name in TORCH_OPS or op.name in _RESHAPES or op.name == "model_split")
        for op in ops
    )


class TorchProgram:
    """``root``'s graph in PyTorch (float64), differentiable in the free nodes ``leaves``."""

    def __init__(self, nodes: list[Node], leaves: list[int]) -> None:
        self.nodes = nodes
        self.leaves = {i: _t(nodes[i].value).requires_grad_() for i in leaves}
        self.built: dict[int, Any] = {}

    def free(self, i: int, recorded: Array) -> Any:
        """Free node ``i`` at the value an op recorded, moved as the leaf tensor is."""
        value = _t(recorded)
        leaf = self.leaves.get(i)
        return value if leaf is None else value + (leaf - leaf.detach())

    def input(self, x: Input) -> Any:
        if x.kind == "const":
            return _t(x.value)
        src = self.nodes[x.source]
        if x.kind == "bridge":
            at = self.free(x.source, x.at) if src.free else self.build(x.source)  # type: ignore[arg-type]
            return _t(x.value) + x.eps * torch.sum(at)
        return self.free(x.source, x.value) if src.free else self.build(x.source)  # type: ignore[arg-type]

    def build(self, i: int) -> Any:
        if i in self.built:
            return self.built[i]
        node = self.nodes[i]
        assert node.op is not None
        args = [self.input(x) for x in node.inputs]
        name = node.op.name
        if name in _RESHAPES:
            y = args[0].reshape(node.shape)
        elif name == "model_split":
            y = 2.0 * args[0] if node.index == 0 else args[0] * args[0]
        else:
            y = TORCH_OPS[name](*args, **node.params)
        self.built[i] = y
        return y


def check_terms(nodes: list[Node], root: Node, seed: Array, terms: dict[int, Term]) -> bool:
    """Compare ``terms`` (leaf -> the model's term) with PyTorch; False when not compared."""
    if not terms or not comparable(nodes, root):
        return False
    program = TorchProgram(nodes, list(terms))
    try:
        out = program.build(root.id)
    except NotImplementedError:
        return False
    leaves = [program.leaves[i] for i in terms]
    grads = torch.autograd.grad((out * _t(seed)).sum(), leaves, allow_unused=True)
    for (i, term), g in zip(terms.items(), grads, strict=True):
        got = np.zeros(nodes[i].shape) if g is None else g.detach().numpy()
        if term.full is not None:
            assert close(got, term.full, TORCH_TOL), f"node {i}: torch {got} != model {term.full}"
        directions = nodes[i].directions
        assert directions is not None
        for j, d in enumerate(directions):
            p = float(np.sum(got * d))
            scale = max(1.0, float(np.sum(np.abs(got) * np.abs(d))))
            assert abs(p - term.projections[j]) <= TORCH_TOL * scale, (
                f"node {i}: torch <g, d{j}> {p} != model {term.projections[j]}"
            )
    return True
