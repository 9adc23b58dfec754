"""``load_targets("module:attr")``: the targets ``dezero-ext check --target`` checks, named by
where they live, so that the report's reproduce line names them the same way."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from dezero_ext.core.variable import Array
from dezero_ext.opdef import OpDef
from dezero_ext.testing.op_targets import OpTarget
from dezero_ext.testing.protocol import Cotangents, Declaration, Pullback, Target

__all__ = ["NamedTarget", "TargetLoadError", "load_targets"]


class TargetLoadError(ValueError):
    """A ``module:attr`` reference that does not lead to targets."""


class NamedTarget:
    """A ``Target`` whose reproduce line names it by where it was loaded from."""

    def __init__(self, target: Target, source: str, imports: tuple[str, ...] = ()) -> None:
        self.target = target
        self.source = source
        self.imports = imports
        """What ``source`` needs imported, for the report's reproduce snippet."""

    @property
    def spec(self) -> Declaration:
        return self.target.spec

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        return self.target.evaluate(inputs, params, cotangents)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        return self.target.linearize(inputs, params, cotangents)


def load_targets(reference: str) -> list[Target]:
    """The targets at ``module:attr`` (``attr`` may be dotted): a ``Target`` (an adapter's,
    say), an ``OpDef``, or a list, tuple or dict of them. Raises ``TargetLoadError`` saying
    what was found instead."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise TargetLoadError(
            f"--target {reference!r}: give MODULE:ATTR, e.g. my_tests.targets:GELU"
        )
    try:
        value: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetLoadError(
            f"--target {reference!r}: cannot import {module_name}: {exc}"
        ) from exc
    for part in attr.split("."):
        if not hasattr(value, part):
            raise TargetLoadError(
                f"--target {reference!r}: {module_name} has no attribute {attr!r}"
            )
        value = getattr(value, part)
    source = f"{module_name}.{attr}"
    imports = (f"import {module_name}",)
    if isinstance(value, Mapping):
        return [_target(v, f"{source}[{k!r}]", imports, reference) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_target(v, f"{source}[{i}]", imports, reference) for i, v in enumerate(value)]
    return [_target(value, source, imports, reference)]


def _target(value: object, source: str, imports: tuple[str, ...], reference: str) -> Target:
    if isinstance(value, OpDef):
        return NamedTarget(OpTarget(value), source, imports)
    if isinstance(value, Target):
        return NamedTarget(value, source, imports)
    kind = type(value).__name__
    hint = (
        "; wrap a function with an adapter (torch_target, jax_target, dezero_target)"
        if callable(value)
        else ""
    )
    raise TargetLoadError(
        f"--target {reference!r}: {source} is a {kind}, not a Target, an OpDef or a "
        f"list of them{hint}"
    )
