"""``OpDef``: an op's ``Declaration`` with its ``Function``, applied by calling it; and
``OpSet``, whose ``declare`` decorator puts the declaration beside the class."""

from __future__ import annotations

import difflib
import inspect
import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar, Unpack

from dezero_ext.core.function import Function, FunctionBase, MultiOutputFunction
from dezero_ext.core.variable import Operand, Variable
from dezero_ext.opdef.declaration import Declaration, DeclarationFields, JvpRule

__all__ = ["OpDef", "OpSet"]

_NAME: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
FunctionClass = TypeVar("FunctionClass", bound=type[FunctionBase])


@dataclass(frozen=True, slots=True)
class OpDef(Declaration):
    """The declaration of one op (``Declaration``'s fields) with its ``Function``, returned by
    a plugin's ``dezero_ext_ops`` hook.

    - ``name``: the public name (``[a-z][a-z0-9_]*``), unique across installed plugins.
    - ``function``: the ``Function`` (or ``MultiOutputFunction``) subclass; its constructor
      takes the op's parameters as keyword arguments.

    Calling an ``OpDef`` applies the op: ``opdef(x, y, axis=0)`` is
    ``opdef.function(axis=0)(x, y)``.
    """

    function: type[FunctionBase]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"OpDef: invalid op name {self.name!r}; use lowercase letters, digits and "
                "underscores, starting with a letter (e.g. 'soft_plus')"
            )
        where = f"OpDef {self.name!r}"
        if not (isinstance(self.function, type) and issubclass(self.function, FunctionBase)):
            raise TypeError(f"{where}: function must be a Function subclass, got {self.function!r}")
        if not issubclass(self.function, (Function, MultiOutputFunction)):
            raise TypeError(f"{where}: subclass Function or MultiOutputFunction, not FunctionBase")
        Declaration.__post_init__(self)  # zero-argument super() fails in a slots dataclass
        if self.jvp is not None and self.jvp != self.jvp_rule:
            has = "has a" if self.function.jvp is not None else "has no"
            raise ValueError(
                f"{where}: declares jvp={self.jvp!r}, but {self.function.__name__} {has} jvp "
                "rule; leave jvp out (it is read off the Function)"
            )

    @property
    def jvp_rule(self) -> JvpRule:
        """``"native"`` when the op's ``Function`` has a ``jvp`` rule, else ``"fallback"``
        (forward mode transposes its VJP: ``core/forward.py``)."""
        return "native" if self.function.jvp is not None else "fallback"

    @property
    def multi_output(self) -> bool:
        """Whether the op returns a tuple of Variables."""
        return issubclass(self.function, MultiOutputFunction)

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...] | None:
        """The op's parameters, read off its ``Function``'s constructor (``None`` when it
        takes any keyword)."""
        return _constructor_parameters(self.function)

    def __call__(self, *inputs: Operand, **params: object) -> Variable | tuple[Variable, ...]:
        """Apply the op to ``inputs`` with ``params``; an unknown or missing parameter is a
        ``TypeError`` naming the op and listing the parameters it takes."""
        if not self.min_arity <= len(inputs) <= self.arity:
            raise TypeError(f"{self.name}: takes {self.arity_text} inputs, got {len(inputs)}")
        accepted = _constructor_parameters(self.function)
        if accepted is not None:
            _check_parameters(self.name, accepted, params)
        fn: Function | MultiOutputFunction = self.function(**params)  # type: ignore[assignment]  # __post_init__ checks the subclass
        return fn(*inputs)

    def outputs(self, *inputs: Operand, **params: object) -> tuple[Variable, ...]:
        """Apply the op and return its outputs as a tuple, one or many."""
        result = self(*inputs, **params)
        return result if isinstance(result, tuple) else (result,)


_PARAMETERS: weakref.WeakKeyDictionary[type, tuple[inspect.Parameter, ...] | None] = (
    weakref.WeakKeyDictionary()
)


def _constructor_parameters(function: type[FunctionBase]) -> tuple[inspect.Parameter, ...] | None:
    """The keyword parameters ``function``'s constructor takes (``None``: any), cached."""
    try:
        return _PARAMETERS[function]
    except KeyError:
        parameters = _PARAMETERS[function] = _read_parameters(function)
        return parameters


def _read_parameters(function: type[FunctionBase]) -> tuple[inspect.Parameter, ...] | None:
    if function.__init__ is object.__init__:
        return ()
    try:
        signature = inspect.signature(function.__init__)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())[1:]  # after self
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p for p in params if p.kind in kinds)


def _describe_parameters(accepted: tuple[inspect.Parameter, ...]) -> str:
    def one(p: inspect.Parameter) -> str:
        text = p.name
        if p.annotation is not inspect.Parameter.empty:
            annotation = p.annotation if isinstance(p.annotation, str) else p.annotation.__name__
            text += f": {annotation}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        return text

    return ", ".join(one(p) for p in accepted)


def _check_parameters(
    op: str, accepted: tuple[inspect.Parameter, ...], params: Mapping[str, object]
) -> None:
    """Unknown and missing parameters, named with the ones the op takes."""
    names = [p.name for p in accepted]
    takes = f"{op} takes {_describe_parameters(accepted)}" if accepted else f"{op} takes none"
    for name, value in params.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{op}: unknown parameter {name!r}{hint}, given {value!r:.60}; {takes}")
    for p in accepted:
        if p.default is inspect.Parameter.empty and p.name not in params:
            raise TypeError(f"{op}: missing parameter {p.name!r}; {takes}")


def _forward_arity(function: type[FunctionBase], name: str) -> tuple[int, int]:
    """``(arity, optional)`` read off ``function.forward``'s positional parameters: those
    with a default value are the optional ones."""
    forward = getattr(function, "forward", None)
    if forward is None:
        raise TypeError(f"op {name!r}: {function.__name__} has no forward method")
    params = list(inspect.signature(forward).parameters.values())[1:]  # after self
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or any(p.kind not in kinds for p in params):
        raise TypeError(
            f"op {name!r}: cannot read the number of inputs off {function.__name__}.forward"
            f"{inspect.signature(forward)}; pass arity= (and optional=) to declare"
        )
    return len(params), sum(p.default is not inspect.Parameter.empty for p in params)


class OpSet:
    """The ops a module declares, each beside its ``Function`` class; iterating gives their
    ``OpDef``s in declaration order, which is what a plugin's hook returns::

        ops = OpSet()

        @ops.declare("soft_plus", domains=Domain(-3.0, 3.0), order=2)
        class SoftPlus(Function): ...

        @hookimpl
        def dezero_ext_ops() -> OpSet:
            return ops

    ``declare`` takes ``Declaration``'s fields as keywords. When ``arity`` is left out it is read
    off ``forward``'s signature: one input per parameter, the ones with a default value
    optional (``def forward(self, x, W, b=None)`` is ``arity=3, optional=1``).
    """

    __slots__ = ("_defs",)

    def __init__(self) -> None:
        self._defs: dict[str, OpDef] = {}

    def declare(
        self, name: str, **fields: Unpack[DeclarationFields]
    ) -> Callable[[FunctionClass], FunctionClass]:
        """A class decorator: declare the decorated ``Function`` subclass as the op ``name``,
        with ``Declaration``'s fields as keywords (``DeclarationFields``)."""
        Declaration.check_keywords(f"declare({name!r})", fields)

        def decorator(function: FunctionClass) -> FunctionClass:
            given = fields.copy()
            if "arity" not in given:
                given["arity"], optional = _forward_arity(function, name)
                given.setdefault("optional", optional)
            self.add(OpDef(name, function, **given))  # type: ignore[arg-type]  # domains may be one Domain, which Declaration repeats per input
            if "op_name" not in vars(function):
                function.op_name = name
            return function

        return decorator

    def add(self, opdef: OpDef) -> OpDef:
        """Add an ``OpDef`` built by hand; a second op of the same name is refused."""
        if not isinstance(opdef, OpDef):
            raise TypeError(f"OpSet.add: expected an OpDef, got {type(opdef).__name__}")
        if opdef.name in self._defs:
            raise ValueError(f"OpSet: the op {opdef.name!r} is declared twice")
        self._defs[opdef.name] = opdef
        return opdef

    def __iter__(self) -> Iterator[OpDef]:
        return iter(list(self._defs.values()))

    def __len__(self) -> int:
        return len(self._defs)

    def __getitem__(self, name: str) -> OpDef:
        return self._defs[name]

    def __repr__(self) -> str:
        return f"OpSet({', '.join(self._defs)})"
