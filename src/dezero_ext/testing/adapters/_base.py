"""What the three adapters share: the declaration an adapter takes (``Declaration``'s fields), the
``source`` expression of the reproduce line, and the rule that an exception raised inside
the checked framework is the target's fault, reported with where it was raised."""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from types import FrameType
from typing import Any

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Declaration, DeclarationFields, ShapeRule
from dezero_ext.testing.compose import Calls, Composite
from dezero_ext.testing.jvpcheck import RuleNames
from dezero_ext.testing.op_targets import held_source
from dezero_ext.testing.protocol import (
    Cotangents,
    Pullback,
    Target,
    TargetFaultError,
    held_declaration,
)
from dezero_ext.testing.reproduce import Source

__all__ = [
    "AdapterTarget",
    "Declared",
    "OutputError",
    "declare",
    "expression",
    "framework_errors",
    "source_of",
]


class Declared(DeclarationFields, total=False):
    """What an adapter takes besides the function: ``Declaration``'s fields
    (``DeclarationFields``), with the same meaning and defaults (``name`` and ``arity`` are read
    off the function when left out), the ``source`` of the report's reproduce line, and
    ``keywords``: the function's names for the drawn parameters (``{"axis": "dim",
    "keepdims": "keepdim"}`` for a torch reduction)."""

    name: str
    source: str
    keywords: Mapping[str, str]


class OutputError(TypeError):
    """The checked function returned something that is not a floating array of its framework."""


class AdapterTarget:
    """A ``Target`` computed by another framework: ``spec`` and ``source``, and the
    ``evaluate``/``linearize`` each adapter defines through ``_evaluate``/``_linearize``, any
    exception raised inside the framework marked with where it was raised."""

    framework = ""
    """The framework's name, as the reports say it."""

    def __init__(
        self,
        fn: Callable[..., object],
        spec: Declaration,
        source: str,
        imports: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        keywords: Mapping[str, str] | None = None,
    ) -> None:
        self.fn = fn
        self.spec = spec
        self.source = source
        self.imports = imports
        """The imports ``source`` needs, for the report's reproduce snippet."""
        self.notes = notes
        """What the reproduce snippet cannot do itself (a function with no import path)."""
        self.keywords = dict(keywords or {})
        """The function's names for drawn parameters: ``{"axis": "dim"}`` calls ``fn(x,
        dim=...)`` where the checker drew ``axis``."""
        self.held: tuple[Array | None, ...] = ()
        """Inputs passed as the framework's constants (``holding``); none by default."""
        self.forward_rule: RuleNames | None = None
        """The forward-mode rule the checker proves against the VJP (``jvpcheck``: a
        ``torch.autograd.Function``'s ``jvp``, a ``jax.custom_jvp`` rule); None: none."""

    @property
    def reproduce_source(self) -> Source:
        """``source`` with its imports and notes, for the report's reproduce snippet."""
        return Source(self.source, self.imports, self.notes)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name!r}: {self.source}>"

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        with framework_errors(self.framework, self._internal_packages()):
            return self._evaluate(inputs, params, cotangents)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        with framework_errors(self.framework, self._internal_packages()):
            outputs, pullback = self._linearize(inputs, params, cotangents)

        def located(vs: Sequence[Array]) -> tuple[Array, ...]:
            with framework_errors(self.framework, self._internal_packages()):
                return pullback(vs)

        return outputs, located

    def tangents(
        self, inputs: Sequence[Array], params: Mapping[str, object], tangents: Sequence[Array]
    ) -> tuple[Array, ...]:
        """``J v`` at ``inputs``, one array per output, by the framework's forward mode."""
        with framework_errors(self.framework, self._internal_packages()):
            return self._tangents(inputs, params, tangents)

    def _tangents(
        self, inputs: Sequence[Array], params: Mapping[str, object], tangents: Sequence[Array]
    ) -> tuple[Array, ...]:
        raise NotImplementedError

    def holding(self, constants: Sequence[Array | None]) -> AdapterTarget:
        """This target with input ``i`` passed as the framework's constant ``constants[i]``
        (not None): ``HoldsConstants``, the checker's constant-input path."""
        held = copy.copy(self)
        held.spec = held_declaration(self.spec, constants)
        held.held = tuple(constants)
        source = held_source(self.reproduce_source, constants)
        held.source, held.imports, held.notes = source.expression, source.imports, source.notes
        return held

    def _with_held(self, xs: Sequence[Any], constant: Callable[[Array], Any]) -> list[Any]:
        """The function's arguments: ``xs`` (its inputs under check) with the held constants
        in their places, each made by ``constant`` (in the framework, in the inputs' dtype)."""
        if not self.held:
            return list(xs)
        given = iter(xs)
        return [next(given) if c is None else constant(c) for c in self.held]

    def _internal_packages(self) -> tuple[str, ...]:
        """Packages whose frames are the framework's machinery, not the code under check."""
        return ()

    def _call(self, xs: Sequence[Any], params: Mapping[str, object]) -> object:
        """``fn`` on framework values (the held constants in their places), the drawn
        parameters under the function's names."""
        args = self._with_held(xs, lambda c: self._constant(c, xs))
        return self.fn(*args, **{self.keywords.get(k, k): v for k, v in params.items()})

    def _constant(self, value: Array, xs: Sequence[Any]) -> Any:
        """A held input as the framework's constant, in the dtype of the inputs ``xs``."""
        return value

    def _apply(self, xs: Sequence[Any], params: Mapping[str, object]) -> tuple[Any, ...]:
        """``_call``'s outputs as a tuple, checked to be floating values of the framework."""
        raise NotImplementedError

    def composed(self, composite: Composite, spec: Declaration) -> Target:
        """This target computing ``composite`` of itself in its framework's own graph (a
        composition check: two calls in one graph, on its own output, one input twice)."""
        calls: Calls[Any] = Calls(self._apply, _permute, _average)

        def fn(*xs: Any, **params: object) -> tuple[Any, ...]:
            return composite(calls, xs, params)

        clone = copy.copy(self)
        clone.fn, clone.spec, clone.keywords = fn, spec, {}
        return clone

    def _evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Array, ...]:
        raise NotImplementedError

    def _linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[tuple[Array, ...], Pullback]:
        raise NotImplementedError


def _permute(x: Any, index: Array) -> Any:
    """``x``'s elements in the flat order ``index``, by the framework's own indexing (torch
    tensors, JAX arrays and DeZero Variables all take a NumPy index)."""
    return x.reshape(-1)[index].reshape(x.shape)


def _average(p: Any, q: Any) -> Any:
    return p * 0.5 + q * 0.5


def check_unchanged(
    given: Sequence[Array], held: Sequence[Array], framework: str, when: str
) -> None:
    """The arrays the function received (``held``, read back from its tensors) still equal the
    checker's (``given``), or an ``inplace`` fault, as ``torch.autograd.gradcheck`` reports an
    input changed by the call: the caller's tensors would change under it."""
    for i, (before, now) in enumerate(zip(given, held, strict=True)):
        now = np.asarray(now)
        # bytes, not values: a NaN equals itself
        if before.shape != now.shape or before.tobytes() != now.astype(before.dtype).tobytes():
            raise TargetFaultError(
                "inplace",
                f"{when} modified input {i} in place",
                at_input=i,
                cause=(
                    f"in place: the function writes into an input {framework} gives it "
                    "(x.mul_(2), x.data[...] = ..., x[...] = ..., out=x); the caller's tensor "
                    "changes under it - compute into a new tensor (y = x * 2), or clone first"
                ),
            )


@contextmanager
def framework_errors(framework: str, internal: tuple[str, ...]) -> Iterator[None]:
    """Mark an exception raised inside the framework with the innermost frame of the code under
    check (a note, which the report's problem line shows): the target's fault, located."""
    try:
        yield
    except (OutputError, TargetFaultError):
        raise
    except Exception as exc:
        where = _innermost(exc, internal)
        located = any(str(n).startswith("raised in ") for n in getattr(exc, "__notes__", ()))
        if where and not located:
            exc.add_note(f"raised in {framework} at {where}")
        raise


_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _innermost(exc: BaseException, internal: tuple[str, ...]) -> str:
    """Where ``exc`` was raised, outside dezero_ext and the ``internal`` packages: the
    innermost frame, and the innermost ``forward``/``backward`` it was called from (the
    method of the function at fault): ``dezero/core.py:48 in Variable.__init__, from
    dezero/functions_conv.py:160 in Conv2DGradW.backward``."""
    skip = (_HERE, *(_package_dir(p) for p in internal))
    frames = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        path = os.path.abspath(frame.f_code.co_filename)
        if frame.f_code.co_filename.startswith("<") or any(d and path.startswith(d) for d in skip):
            continue
        frames.append((frame, lineno, path))
    if not frames:
        return ""
    described = [_frame_text(*frames[-1])]
    if frames[-1][0].f_code.co_name not in ("forward", "backward"):
        for frame, lineno, path in reversed(frames[:-1]):
            if frame.f_code.co_name in ("forward", "backward"):
                described.append(_frame_text(frame, lineno, path))
                break
    return ", from ".join(described)


def _frame_text(frame: FrameType, lineno: int, path: str) -> str:
    name = frame.f_code.co_name
    owner = frame.f_locals.get("self")  # the class of the instance, not where it inherits from
    if owner is not None and not name.startswith("<"):
        name = f"{type(owner).__name__}.{name}"
    elif "<locals>" not in frame.f_code.co_qualname:
        name = frame.f_code.co_qualname
    return f"{_short(path)}:{lineno} in {name}"


def _package_dir(package: str) -> str:
    module = sys.modules.get(package)
    file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) + os.sep if file else ""


def _short(path: str) -> str:
    marker = os.sep + "site-packages" + os.sep
    if marker in path:
        return path.split(marker, 1)[1]
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def declare(
    fn: Callable[..., object], declared: Declared, *, skip_first: bool = False
) -> Declaration:
    """The ``Declaration`` of ``fn``: ``declared`` with ``name`` and ``arity`` read off ``fn``
    when left out (``skip_first``: the first parameter is not an input, as ``ctx``), validated
    as an ``OpDef`` is."""
    name = declared.get("name") or _name(fn)
    given = declared.copy()
    given.pop("name", None)
    given.pop("source", None)
    _check_keywords(repr(name), given.pop("keywords", {}))
    fields: DeclarationFields = given
    Declaration.check_keywords(repr(name), fields)
    if "arity" not in fields:  # a reduction's axis and keepdims are parameters, not inputs
        reduction = fields.get("shape_rule") is ShapeRule.REDUCTION
        fields["arity"] = 1 if reduction else _read_arity(fn, skip_first)
    return Declaration(name, **fields)  # type: ignore[arg-type]  # domains may be one Domain, which Declaration repeats per input


def _name(fn: Callable[..., object]) -> str:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # Function.apply: the Function's name
        return owner.__name__
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name != "<lambda>":
        return name
    inner = getattr(fn, "func", None)  # functools.partial
    return _name(inner) if callable(inner) else type(fn).__name__


def _local_name(fn: object) -> str:
    """A name for a function with no importable one: ``TanhGelu.apply``, ``<lambda>``."""
    owner = getattr(fn, "__self__", None)
    name = str(getattr(fn, "__name__", type(fn).__name__))
    if not isinstance(owner, type):
        return name
    # a class defined in a function: its own name, not f.<locals>.TanhGelu (not Python)
    return f"{owner.__qualname__.rsplit('<locals>.', 1)[-1]}.{name}"


def _check_keywords(name: str, keywords: object) -> None:
    if not isinstance(keywords, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.isidentifier() for k, v in keywords.items()
    ):
        raise TypeError(
            f"{name}: keywords must map a drawn parameter to the function's name for it, "
            f'e.g. {{"axis": "dim", "keepdims": "keepdim"}}; got {keywords!r}'
        )


def _read_arity(fn: Callable[..., object], skip_first: bool) -> int:
    """The number of required positional parameters of ``fn``; 1 when its signature cannot
    be read (a builtin such as ``torch.sin``); a ``*args`` function is refused (its number of
    inputs is not in its signature)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(signature.parameters.values())
    star = next((p for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    if star is not None:
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in params],
            return_annotation=signature.empty,
        )
        raise TypeError(
            f"{_name(fn)}{bare} takes *{star.name}: the number of array inputs cannot be "
            f"read off its signature; give it, e.g. arity=2"
        )
    required = [p for p in params if p.kind in kinds and p.default is p.empty]
    return max(1, len(required) - (1 if skip_first and required else 0))


def expression(obj: object) -> str | None:
    """A Python expression naming ``obj`` (``torch.nn.functional.relu``,
    ``my_tests.MyOp.apply``), or None when it has no importable name (a lambda, a local)."""
    found = _reference(obj)
    return found[0] if found else None


def _reference(obj: object) -> tuple[str, str] | None:
    """``(expression, module to import)`` naming ``obj``, or None."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None)
    if isinstance(owner, type) and isinstance(name, str):
        base = _reference(owner)
        return (f"{base[0]}.{name}", base[1]) if base else None
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    qualname = getattr(obj, "__qualname__", name)
    for path in (qualname, name):
        if "<" in path or module == "__main__":
            continue
        if _resolves(module, path, obj):
            return f"{module}.{path}", module
    return None


def _resolves(module: str, path: str, obj: object) -> bool:
    try:
        value: object = importlib.import_module(module)
    except ImportError:
        return False
    for part in path.split("."):
        value = getattr(value, part, None)
    return value is obj


def _literal(value: object, imports: list[str], notes: list[str] | None = None) -> str:
    """``value`` as Python source (a frozen dataclass with only its non-default fields),
    adding the imports it needs to ``imports``."""
    if isinstance(value, ShapeRule):
        imports.append("from dezero_ext import ShapeRule")
        return f"ShapeRule.{value.name}"
    if isinstance(value, tuple):
        items = ", ".join(_literal(v, imports, notes) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if is_dataclass(value) and not isinstance(value, type):
        imports.append(f"from dezero_ext import {type(value).__name__}")
        args = [
            f"{f.name}={_literal(getattr(value, f.name), imports, notes)}"
            for f in fields(value)
            if getattr(value, f.name) != f.default
        ]
        return f"{type(value).__name__}({', '.join(args)})"
    if callable(value):
        return _named(value, imports, notes)
    return repr(value)


def _named(fn: object, imports: list[str], notes: list[str] | None = None) -> str:
    found = _reference(fn)
    if found is None:
        name = _local_name(fn)
        if notes is not None:
            notes.append(_no_import_path(fn, name))
        return name
    imports.append(f"import {found[1]}")
    return found[0]


def _no_import_path(fn: object, name: str) -> str:
    """Why ``name`` in the snippet will not run as it is, and where it will."""
    owner = getattr(fn, "__self__", None)
    defined = owner if isinstance(owner, type) else fn
    qualname = str(getattr(defined, "__qualname__", ""))
    module = str(getattr(defined, "__module__", "") or "")
    if "<locals>" in qualname:
        where = "inside a function"
    elif qualname == "<lambda>" or "<lambda>" in qualname:
        where = "as a lambda"
    else:
        where = f"in {module or 'a script'}, which cannot be imported by that name"
    return f"{name} is defined {where}: the snippet runs only where {name} is defined"


def source_of(
    factory: str, fn: Callable[..., object], declared: Declared
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The reproduce line's expression for an adapter target, the imports it needs and the
    notes it needs (a function it cannot import): ``declared["source"]`` (imports unknown),
    else the factory call that builds it again, ``torch_target(torch.sin, order=2)``, with
    ``from dezero_ext.testing.adapters.torch import torch_target`` and ``import torch``."""
    given = declared.get("source")
    if given:
        return given, (), ()
    framework = factory.removesuffix("_target")
    imports = [f"from dezero_ext.testing.adapters.{framework} import {factory}"]
    notes: list[str] = []
    args = [_named(fn, imports, notes)] + [
        f"{key}={_literal(value, imports, notes)}"
        for key, value in declared.items()
        if key != "source"
    ]
    return f"{factory}({', '.join(args)})", tuple(dict.fromkeys(imports)), tuple(notes)
