"""PyTorch functions as checker targets: ``torch_target(fn, ...)``.

``fn`` is any callable on tensors: a ``torch.autograd.Function``'s ``apply``, a
``torch.library`` custom op, a function of torch ops. The checker hands it CPU tensors in the
dtype under check (float64, float32; float16 if declared) and gets its derivatives from
autograd: ``G_k`` is ``torch.autograd.grad`` of ``<c_k, G_{k-1}>`` with ``create_graph=True``,
so order k differentiates the backward of order k-1 exactly as a user's double backward does.
A ``torch.autograd.Function`` with a ``jvp`` staticmethod (or any function declared
``jvp="native"``) has its forward-mode rule checked too: ``J v`` by
``torch.autograd.forward_ad`` (dual tensors) against its backward by the transpose identity
and against central differences (``testing/jvpcheck.py``).

PyTorch is imported on first use (``pip install 'dezero-ext[torch]'``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Unpack

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.adapters._base import (
    AdapterTarget,
    Declared,
    OutputError,
    check_unchanged,
    declare,
    source_of,
)
from dezero_ext.testing.jvpcheck import RuleNames
from dezero_ext.testing.protocol import Cotangents, Declaration, Pullback

__all__ = ["TorchTarget", "torch_target"]


def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(
            f"torch_target needs PyTorch ({exc}): pip install 'dezero-ext[torch]'"
        ) from None


def torch_target(fn: Callable[..., object], **declared: Unpack[Declared]) -> TorchTarget:
    """``fn``, a callable on torch tensors, as a checker ``Target``.

    Takes ``name`` and ``Declaration``'s fields as keywords (``DeclarationFields``: ``arity``,
    ``domains``, ``order``, ``dtypes``, ...), with the same meaning and defaults as an op's;
    ``name`` and ``arity`` are read off ``fn`` when left out (a ``torch.autograd.Function``'s
    ``apply``: off its ``forward``; 1 when there is no signature, as for ``torch.sin``).
    Parameters drawn by a ``sample`` function or a ``REDUCTION`` shape rule are passed to ``fn``
    as keyword arguments. ``source``: the expression the report's reproduce line shows (default:
    this call)::

        check_op(torch_target(MyOp.apply, arity=2, order=2))
    """
    _torch()
    owner = getattr(fn, "__self__", None)
    forward = getattr(owner, "forward", None)
    if isinstance(owner, type) and callable(forward) and "arity" not in declared:
        # a torch.autograd.Function's apply: the inputs are forward's, after ctx
        spec = declare(forward, {"name": owner.__name__, **declared}, skip_first=True)
    else:
        schema_arity = _schema_arity(fn)
        if schema_arity and "arity" not in declared:
            spec = declare(fn, {**declared, "arity": schema_arity})
        else:
            spec = declare(fn, declared)
    target = TorchTarget(
        fn, spec, *source_of("torch_target", fn, declared), declared.get("keywords")
    )
    target.forward_rule = _forward_rule(fn, spec)
    return target


def _forward_rule(fn: object, spec: Declaration) -> RuleNames | None:
    """A ``torch.autograd.Function``'s own ``jvp`` (overriding the base class's, which
    raises), or forward-mode AD when the declaration says ``jvp="native"``."""
    if spec.jvp == "fallback":
        return None
    torch = _torch()
    owner = getattr(fn, "__self__", None)
    function = torch.autograd.Function
    if (
        isinstance(owner, type)
        and issubclass(owner, function)
        and getattr(owner, "jvp", None) is not function.jvp
    ):
        return RuleNames(f"{owner.__name__}.jvp", f"{owner.__name__}.backward")
    if spec.jvp == "native":
        return RuleNames(
            f"PyTorch's forward-mode AD of {spec.name}", f"PyTorch's backward of {spec.name}"
        )
    return None


def _schema_arity(fn: object) -> int:
    """The required positional arguments of a torch operator (a ``torch.library.custom_op``,
    an ``OpOverload``), read off its schema: its Python signature is ``(*args, **kwargs)``.
    0 when ``fn`` has no schema."""
    schema = getattr(getattr(fn, "_opoverload", fn), "_schema", None)
    arguments = getattr(schema, "arguments", None)
    if not arguments:
        return 0
    return sum(not a.kwarg_only and not a.has_default_value() for a in arguments)


class TorchTarget(AdapterTarget):
    """A function of torch tensors under check (built by ``torch_target``)."""

    framework = "PyTorch"

    def _internal_packages(self) -> tuple[str, ...]:
        return ("torch",)

    def _evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Array, ...]:
        torch = _torch()
        if not cotangents:
            with torch.no_grad():
                xs = _tensors(inputs, grad=False)
                ys = _arrays(self._apply(xs, params))
        else:
            xs = _tensors(inputs, grad=True)
            ys = _arrays(self._level(xs, params, cotangents, differentiable=False))
        check_unchanged(inputs, _arrays(xs), "PyTorch", "the call")
        return ys

    def _linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[tuple[Array, ...], Pullback]:
        xs = _tensors(inputs, grad=True)
        ys = self._level(xs, params, cotangents, differentiable=True)
        check_unchanged(inputs, _arrays(xs), "PyTorch", "the call")

        def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            grads = _arrays(_vjp(ys, xs, vs, create_graph=False))
            check_unchanged(inputs, _arrays(xs), "PyTorch", "backward")
            return grads

        return _arrays(ys), pullback

    def _tangents(
        self, inputs: Sequence[Array], params: Mapping[str, object], tangents: Sequence[Array]
    ) -> tuple[Array, ...]:
        torch = _torch()
        forward_ad = torch.autograd.forward_ad
        with forward_ad.dual_level(), warnings.catch_warnings():
            # the first make_dual loads torch's JVP decompositions through torch.jit.script,
            # which torch 2.13 itself deprecates: its noise, not the checked function's
            warnings.filterwarnings(
                "ignore", "`torch.jit.script` is deprecated", DeprecationWarning
            )
            xs = [
                forward_ad.make_dual(x, torch.tensor(np.asarray(t, dtype=a.dtype)))
                for x, a, t in zip(_tensors(inputs, grad=False), inputs, tangents, strict=True)
            ]
            ys = self._apply(xs, params)
            found = [forward_ad.unpack_dual(y).tangent for y in ys]
            out = tuple(
                np.zeros(tuple(y.shape), dtype=_arrays([y])[0].dtype)
                if t is None
                else _arrays([t])[0]
                for y, t in zip(ys, found, strict=True)
            )
        check_unchanged(
            inputs, _arrays([forward_ad.unpack_dual(x).primal for x in xs]), "PyTorch", "the call"
        )
        return out

    def _constant(self, value: Array, xs: Sequence[Any]) -> Any:
        torch = _torch()
        return torch.tensor(np.array(value), dtype=xs[0].dtype if xs else torch.float64)

    def _apply(self, xs: Sequence[Any], params: Mapping[str, object]) -> tuple[Any, ...]:
        torch = _torch()
        result = self._call(xs, params)
        items = tuple(result) if isinstance(result, tuple | list) else (result,)
        for i, y in enumerate(items):
            if not isinstance(y, torch.Tensor):
                raise OutputError(
                    f"{self.spec.name} returned {type(y).__name__} as output {i}, "
                    "expected torch tensors"
                )
            if not y.is_floating_point():
                raise OutputError(
                    f"{self.spec.name} returned output {i} as {y.dtype}: only floating "
                    "outputs have gradients (return it from a separate function)"
                )
        return items

    def _level(
        self,
        xs: Sequence[Any],
        params: Mapping[str, object],
        cotangents: Cotangents,
        *,
        differentiable: bool,
    ) -> tuple[Any, ...]:
        """``G_k(xs)``, each level differentiable but the last unless ``differentiable``."""
        ys = self._apply(xs, params)
        for j, cs in enumerate(cotangents):
            last = j == len(cotangents) - 1
            ys = _vjp(ys, xs, cs, create_graph=differentiable or not last)
        return ys


def _tensors(arrays: Sequence[Array], *, grad: bool) -> list[Any]:
    torch = _torch()
    return [torch.tensor(np.array(a, copy=True), requires_grad=grad) for a in arrays]


def _arrays(tensors: Sequence[Any]) -> tuple[Array, ...]:
    return tuple(np.array(t.detach().numpy(force=True), copy=True) for t in tensors)


def _vjp(
    ys: Sequence[Any], xs: Sequence[Any], vs: Sequence[Array], *, create_graph: bool
) -> tuple[Any, ...]:
    """The gradient of ``sum_k <vs[k], ys[k]>`` with respect to each of ``xs`` (zeros for an
    input nothing reaches; nothing flows from an output that does not require grad)."""
    torch = _torch()
    pairs = [
        (y, torch.as_tensor(np.asarray(v), dtype=y.dtype).reshape(y.shape))
        for y, v in zip(ys, vs, strict=True)
        if y.requires_grad
    ]
    if not pairs:
        return tuple(torch.zeros_like(x) for x in xs)
    grads = torch.autograd.grad(
        [y for y, _ in pairs],
        list(xs),
        [v for _, v in pairs],
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
    )
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads, strict=True))
