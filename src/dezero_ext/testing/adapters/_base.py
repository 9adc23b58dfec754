"""What the three adapters share: the declaration an adapter takes (``OpDef``'s fields), the
``source`` expression of the reproduce line, and the rule that an exception raised inside
the checked framework is the target's fault, reported with where it was raised."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from types import FrameType
from typing import TypedDict, get_args

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Domain, Sampler, ShapeRule, Ties, Tolerance
from dezero_ext.testing.protocol import Cotangents, Declaration, Pullback, TargetSpec

__all__ = [
    "AdapterTarget",
    "Declared",
    "OutputError",
    "declare",
    "expression",
    "framework_errors",
    "source_of",
]

_DTYPES = ("float64", "float32", "float16")


class Declared(TypedDict, total=False):
    """What an adapter takes besides the function: ``OpDef``'s fields, with the same meaning
    and defaults (``name`` and ``arity`` are read off the function when left out), and the
    ``source`` of the report's reproduce line."""

    name: str
    arity: int
    optional: int
    domains: Domain | tuple[Domain, ...]
    shape_rule: ShapeRule
    sample: Sampler | None
    tolerance: Tolerance
    order: int
    dtypes: tuple[str, ...]
    ties: Ties
    source: str


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
    ) -> None:
        self.fn = fn
        self.spec = spec
        self.source = source
        self.imports = imports
        """The imports ``source`` needs, for the report's reproduce snippet."""

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

    def _internal_packages(self) -> tuple[str, ...]:
        """Packages whose frames are the framework's machinery, not the code under check."""
        return ()

    def _evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Array, ...]:
        raise NotImplementedError

    def _linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[tuple[Array, ...], Pullback]:
        raise NotImplementedError


@contextmanager
def framework_errors(framework: str, internal: tuple[str, ...]) -> Iterator[None]:
    """Mark an exception raised inside the framework with the innermost frame of the code under
    check (a note, which the report's problem line shows): the target's fault, located."""
    try:
        yield
    except OutputError:
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
) -> TargetSpec:
    """The ``TargetSpec`` of ``fn``: ``declared`` with ``name`` and ``arity`` read off ``fn``
    when left out (``skip_first``: the first parameter is not an input, as ``ctx``), validated
    as an ``OpDef`` is."""
    name = declared.get("name") or _name(fn)
    arity = declared.get("arity")
    if arity is None:  # a reduction's axis and keepdims are parameters, not inputs
        reduction = declared.get("shape_rule") is ShapeRule.REDUCTION
        arity = 1 if reduction else _read_arity(fn, skip_first)
    if not isinstance(arity, int) or arity < 1:
        raise ValueError(f"{name!r}: arity must be an int >= 1, got {arity!r}")
    domains = declared.get("domains", ())
    spec = TargetSpec(
        name,
        arity=arity,
        optional=declared.get("optional", 0),
        domains=(domains,) if isinstance(domains, Domain) else tuple(domains),
        shape_rule=declared.get("shape_rule", ShapeRule.ELEMENTWISE),
        sample=declared.get("sample"),
        tolerance=declared.get("tolerance", Tolerance()),
        order=declared.get("order", 1),
        dtypes=tuple(declared.get("dtypes", ("float64", "float32"))),
        ties=declared.get("ties", "none"),
    )
    _validate(spec)
    return spec


def _validate(spec: TargetSpec) -> None:
    """Refuse what ``OpDef`` refuses, naming the field and the value."""
    where = f"{spec.name!r}"
    if not isinstance(spec.optional, int) or not 0 <= spec.optional < spec.arity:
        raise ValueError(
            f"{where}: optional must be an int from 0 to arity - 1, got {spec.optional!r}"
        )
    if not all(isinstance(d, Domain) for d in spec.domains):
        raise TypeError(f"{where}: domains must be Domain objects, got {spec.domains!r}")
    if not isinstance(spec.shape_rule, ShapeRule):
        raise TypeError(f"{where}: shape_rule must be a ShapeRule, got {spec.shape_rule!r}")
    if spec.sample is not None and not callable(spec.sample):
        raise TypeError(f"{where}: sample must be callable, got {spec.sample!r}")
    if not isinstance(spec.tolerance, Tolerance):
        raise TypeError(f"{where}: tolerance must be a Tolerance, got {spec.tolerance!r}")
    if not isinstance(spec.order, int) or not 1 <= spec.order <= 4:
        raise ValueError(f"{where}: order must be 1, 2, 3 or 4, got {spec.order!r}")
    if not spec.dtypes or any(d not in _DTYPES for d in spec.dtypes):
        raise ValueError(
            f"{where}: dtypes must be some of {', '.join(_DTYPES)}, got {spec.dtypes!r}"
        )
    if spec.ties not in get_args(Ties):
        raise ValueError(f"{where}: ties must be 'none', 'first' or 'split', got {spec.ties!r}")


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
    return f"{owner.__qualname__}.{name}" if isinstance(owner, type) else name


def _read_arity(fn: Callable[..., object], skip_first: bool) -> int:
    """The number of required positional parameters of ``fn``; 1 when its signature cannot
    be read (a builtin such as ``torch.sin``)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return max(1, sum(p.kind in kinds and p.default is p.empty for p in params))
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


def _literal(value: object, imports: list[str]) -> str:
    """``value`` as Python source (a frozen dataclass with only its non-default fields),
    adding the imports it needs to ``imports``."""
    if isinstance(value, ShapeRule):
        imports.append("from dezero_ext import ShapeRule")
        return f"ShapeRule.{value.name}"
    if isinstance(value, tuple):
        items = ", ".join(_literal(v, imports) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if is_dataclass(value) and not isinstance(value, type):
        imports.append(f"from dezero_ext import {type(value).__name__}")
        args = [
            f"{f.name}={_literal(getattr(value, f.name), imports)}"
            for f in fields(value)
            if getattr(value, f.name) != f.default
        ]
        return f"{type(value).__name__}({', '.join(args)})"
    if callable(value):
        return _named(value, imports)
    return repr(value)


def _named(fn: object, imports: list[str]) -> str:
    found = _reference(fn)
    if found is None:
        return _local_name(fn)
    imports.append(f"import {found[1]}")
    return found[0]


def source_of(
    factory: str, fn: Callable[..., object], declared: Declared
) -> tuple[str, tuple[str, ...]]:
    """The reproduce line's expression for an adapter target and the imports it needs:
    ``declared["source"]`` (imports unknown), else the factory call that builds it again,
    ``torch_target(torch.sin, order=2)``, with ``from dezero_ext.testing.adapters.torch import
    torch_target`` and ``import torch``."""
    given = declared.get("source")
    if given:
        return given, ()
    framework = factory.removesuffix("_target")
    imports = [f"from dezero_ext.testing.adapters.{framework} import {factory}"]
    args = [_named(fn, imports)] + [
        f"{key}={_literal(value, imports)}" for key, value in declared.items() if key != "source"
    ]
    return f"{factory}({', '.join(args)})", tuple(dict.fromkeys(imports))
