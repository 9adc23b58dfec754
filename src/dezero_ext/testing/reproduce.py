"""Python source for the report's reproduce line: a snippet that, pasted into a fresh Python
session, runs the failing check again and fails the same way.

``Source`` is an expression with the imports it needs; ``value_source`` writes arrays (with
their dtype, exactly), NumPy scalars, numbers, tuples, slices and the like; ``object_source``
names a class or function by its import path; ``opdef_source`` writes an ``OpDef``: the
registry lookup for a registered op, its constructor call otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from dezero_ext.opdef import ErrorInput, OpDef, ShapeRule

__all__ = ["Source", "combine", "object_source", "opdef_source", "value_source"]

_NUMPY = "import numpy as np"


@dataclass(frozen=True, slots=True)
class Source:
    """A Python ``expression``, the ``imports`` it needs, and ``notes`` for whoever pastes it
    (what it cannot say itself: a class defined in ``__main__``)."""

    expression: str
    imports: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def combine(parts: Iterable[Source], expression: str) -> Source:
    """``expression`` with the imports and notes of ``parts``, each once, in order."""
    parts = list(parts)
    imports = tuple(dict.fromkeys(i for p in parts for i in p.imports))
    notes = tuple(dict.fromkeys(n for p in parts for n in p.notes))
    return Source(expression, imports, notes)


def object_source(obj: object) -> Source:
    """A class or function by its import path (``import my_plugin.ops`` and
    ``my_plugin.ops.SoftPlus``); one defined in ``__main__`` or inside a function is named as
    it is, with a note."""
    module = str(getattr(obj, "__module__", None) or "")
    qualname = str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj)))
    if not module or module == "__main__" or "<" in qualname:
        name = qualname.rsplit(".", 1)[-1]
        where = "inside a function" if "<locals>" in qualname else f"in {module or 'a script'}"
        note = f"{name} is defined {where}: run the snippet where it is defined"
        return Source(name, notes=(note,))
    return Source(f"{module}.{qualname}", (f"import {module}",))


def _float(value: float) -> str:
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _nested(values: object) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    if isinstance(values, float):
        return _float(values)
    return repr(values)


def _array(x: npt.NDArray[np.generic]) -> str:
    literal = _nested(x.tolist())  # Python floats hold float32/float16 values exactly
    text = f"np.array({literal}, dtype=np.{x.dtype.name})"
    if np.array(x.tolist()).shape != x.shape:  # (0, 3) lists as []
        text += f".reshape({', '.join(map(str, x.shape))}{',' if x.ndim == 1 else ''})"
    return text


def value_source(value: object) -> Source:
    """``value`` as a Python expression that rebuilds it exactly (a note says when it cannot)."""
    if isinstance(value, np.ndarray):
        return Source(_array(value), (_NUMPY,))
    if isinstance(value, np.generic):
        item = value.item()
        inner = _float(item) if isinstance(item, float) else repr(item)
        return Source(f"np.{type(value).__name__}({inner})", (_NUMPY,))
    if isinstance(value, bool | int | str | bytes) or value is None or value is Ellipsis:
        return Source("..." if value is Ellipsis else repr(value))
    if isinstance(value, float):
        text = _float(value)
        return Source(text, (_NUMPY,) if "np." in text else ())
    if isinstance(value, slice):
        parts = [value_source(v) for v in (value.start, value.stop, value.step)]
        return combine(parts, f"slice({', '.join(p.expression for p in parts)})")
    if isinstance(value, tuple | list):
        parts = [value_source(v) for v in value]
        inner = ", ".join(p.expression for p in parts)
        if isinstance(value, tuple):
            return combine(parts, f"({inner}{',' if len(parts) == 1 else ''})")
        return combine(parts, f"[{inner}]")
    if isinstance(value, dict):
        keys = [value_source(k) for k in value]
        values = [value_source(v) for v in value.values()]
        items = ", ".join(
            f"{k.expression}: {v.expression}" for k, v in zip(keys, values, strict=True)
        )
        return combine([*keys, *values], "{" + items + "}")
    if isinstance(value, type) or callable(value):
        return object_source(value)
    text = repr(value)
    return Source(text, notes=(f"{text} is written with repr(); check that it rebuilds the value",))


def _field_source(name: str, value: object) -> Source:
    if isinstance(value, ShapeRule):
        return Source(f"ShapeRule.{value.name}", ("from dezero_ext import ShapeRule",))
    if name in ("domains",) and isinstance(value, tuple):
        parts = [Source(repr(d), ("from dezero_ext import Domain",)) for d in value]
        inner = ", ".join(p.expression for p in parts)
        return combine(parts, f"({inner}{',' if len(parts) == 1 else ''})")
    if name == "tolerance":
        return Source(repr(value), ("from dezero_ext import Tolerance",))
    if name == "reference":
        return object_source(value)
    if name == "error_inputs" and isinstance(value, tuple):
        parts = [_error_input_source(e) for e in value if isinstance(e, ErrorInput)]
        inner = ", ".join(p.expression for p in parts)
        return combine(parts, f"({inner}{',' if len(parts) == 1 else ''})")
    return value_source(value)


def _error_input_source(e: ErrorInput) -> Source:
    inputs = value_source(tuple(np.asarray(x) for x in e.inputs))
    raises = (
        Source(e.raises.__name__) if e.raises.__module__ == "builtins" else object_source(e.raises)
    )
    parts = [Source("", ("from dezero_ext.opdef import ErrorInput",)), inputs, raises]
    call = f"ErrorInput({inputs.expression}, {raises.expression}, {e.match!r}"
    if e.params:
        params = value_source(dict(e.params))
        parts.append(params)
        call += f", params={params.expression}"
    return combine(parts, call + ")")


def opdef_source(opdef: OpDef) -> Source:
    """``get_registry().get(name)`` for the registered op, or the ``OpDef(...)`` call that
    builds ``opdef`` (every field that differs from its default)."""
    try:
        from dezero_ext.registry import get_registry

        registered = get_registry().ops().get(opdef.name)
    except Exception:  # noqa: BLE001 - a broken registry only costs the short form
        registered = None
    if registered == opdef:
        return Source(
            f"get_registry().get({opdef.name!r})", ("from dezero_ext import get_registry",)
        )
    function = object_source(opdef.function)
    parts = [function]
    arguments = [repr(opdef.name), function.expression]
    defaults = OpDef(opdef.name, opdef.function, arity=opdef.arity)
    for f in fields(OpDef):
        if f.name in ("name", "function"):
            continue
        value = getattr(opdef, f.name)
        if value == getattr(defaults, f.name) and (f.name != "arity" or value == 1):
            continue
        if f.name == "domains" and value == (type(value[0])(),) * opdef.arity:
            continue
        part = _field_source(f.name, value)
        parts.append(part)
        arguments.append(f"{f.name}={part.expression}")
    opdef_import = Source("", ("from dezero_ext import OpDef",))
    return combine([opdef_import, *parts], f"OpDef({', '.join(arguments)})")
