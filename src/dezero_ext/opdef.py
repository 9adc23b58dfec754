"""What an op plugin declares: ``OpDef`` with its per-input ``Domain`` and ``Tolerance``.

These are plain frozen data. The property-based checker (``dezero_ext.testing``) builds its
Hypothesis strategies from them; the core never imports Hypothesis.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import math
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Final, Literal, Protocol, TypeAlias, TypedDict, TypeVar, Unpack, get_args

import numpy as np
import numpy.typing as npt

from dezero_ext.core.function import Function, FunctionBase, MultiOutputFunction
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = [
    "Case",
    "Declaration",
    "DeclarationFields",
    "Domain",
    "Draw",
    "KinkRule",
    "OpDef",
    "OpSet",
    "Sampler",
    "ShapeRule",
    "Ties",
    "Tolerance",
]

_NAME: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
T = TypeVar("T")
FunctionClass = TypeVar("FunctionClass", bound=type[FunctionBase])

KinkRule: TypeAlias = Literal["left", "right", "mean", "between"]
"""An op's derivative at a kink (``Domain.kink_rule``): the left or right one-sided
derivative, their mean, or any value between them."""
Ties: TypeAlias = Literal["none", "first", "split"]
"""Where the gradient goes among tied elements (``OpDef.ties``)."""


@dataclass(frozen=True, slots=True)
class Domain:
    """Where an input's values are drawn from by the gradient checks, and what is special there.

    - ``low``/``high``: the interval checked (keep it where the op is well conditioned).
    - ``positive``: values strictly above 0 (at least ``margin``), whatever ``low`` says.
    - ``exclude``: points where the op is undefined (a pole, division by zero); values are
      kept at least ``margin`` away from them.
    - ``kinks``: points where the op is continuous but not differentiable (``abs`` at 0,
      ``relu`` at 0); ordinary draws keep ``margin`` away, kink checks aim at them.
    - ``kink_rule``: what the op's derivative is at a kink: the ``"left"`` derivative
      (``relu'(0) = 0``), the ``"right"`` one, their ``"mean"`` (``abs'(0) = 0``), or any value
      ``"between"`` them (a subgradient).
    - ``distinct``: ties matter (``max``, sorting): the elements of an input are drawn at
      least ``margin`` apart.
    - ``outside``: what the op does beyond ``[low, high]``: ``"defined"`` (an ordinary value)
      or ``"nan"`` (NumPy's nan with a RuntimeWarning, as ``log`` of a negative number).
    """

    low: float = -2.0
    high: float = 2.0
    positive: bool = False
    exclude: tuple[float, ...] = ()
    kinks: tuple[float, ...] = ()
    margin: float = 0.05
    distinct: bool = False
    outside: Literal["defined", "nan"] = "defined"
    kink_rule: KinkRule = "between"

    def __post_init__(self) -> None:
        bounds = (self.low, self.high, self.margin, *self.exclude, *self.kinks)
        if not all(math.isfinite(b) for b in bounds):
            raise ValueError(f"Domain: bounds, margin and points must be finite numbers: {self}")
        if self.margin < 0:
            raise ValueError(f"Domain: margin must be >= 0, got {self.margin}")
        if self.lower >= self.high:
            raise ValueError(
                f"Domain: empty interval [{self.lower}, {self.high}]"
                + (" (positive=True raises low to margin)" if self.positive else "")
            )
        if self.outside not in ("defined", "nan"):
            raise ValueError(f"Domain: outside must be 'defined' or 'nan', got {self.outside!r}")
        if self.kink_rule not in get_args(KinkRule):
            raise ValueError(
                "Domain: kink_rule must be 'left', 'right', 'mean' or 'between', "
                f"got {self.kink_rule!r}"
            )
        if not self.intervals():
            raise ValueError(
                f"Domain: no value of [{self.lower:g}, {self.high:g}] is at least margin="
                f"{self.margin:g} away from {', '.join(f'{p:g}' for p in self.avoid)}; widen "
                "the interval or lower the margin"
            )

    def intervals(self) -> list[tuple[float, float]]:
        """The closed intervals ordinary draws come from: ``[lower, high]`` minus ``margin``
        around every excluded point and kink (empty for no value at all)."""
        pieces = [(self.lower, self.high)]
        for point in self.avoid:
            cut_low, cut_high = point - self.margin, point + self.margin
            next_pieces: list[tuple[float, float]] = []
            for low, high in pieces:
                if cut_high <= low or cut_low >= high:
                    next_pieces.append((low, high))
                    continue
                if low < cut_low:
                    next_pieces.append((low, cut_low))
                if cut_high < high:
                    next_pieces.append((cut_high, high))
            pieces = next_pieces
        return [(low, high) for low, high in pieces if high > low]

    def intervals_in(self, dtype: str | np.dtype[np.floating]) -> list[tuple[float, float]]:
        """``intervals()`` with their bounds rounded inward to values of ``dtype``, keeping
        those that hold a value the checks draw: zero or a normal number (no subnormal)."""
        np_dtype: np.dtype[np.floating] = np.dtype(dtype)
        info = np.finfo(np_dtype)
        tiny, big = float(info.tiny), float(info.max)
        inside = []
        for low, high in self.intervals():
            low, high = max(low, -big), min(high, big)  # no overflow to infinity
            lo, hi = _round_inward(low, np_dtype, +1), _round_inward(high, np_dtype, -1)
            if lo <= hi and (lo <= 0.0 <= hi or hi >= tiny or lo <= -tiny):
                inside.append((lo, hi))
        return inside

    def has_values(self, dtype: str | np.dtype[np.floating]) -> bool:
        """Whether ordinary draws can find a value here in ``dtype`` (``intervals_in``)."""
        return bool(self.intervals_in(dtype))

    def kinks_inside(self) -> tuple[float, ...]:
        """The kinks that lie in ``[lower, high]``: where kink checks aim."""
        return tuple(p for p in self.kinks if self.lower <= p <= self.high)

    @staticmethod
    def per_input(
        domains: Domain | Sequence[Domain], arity: int, where: str = "Domain.per_input"
    ) -> tuple[Domain, ...]:
        """A declaration's ``domains`` as one ``Domain`` per input: none means ``Domain()``
        for every input, a single one is repeated; otherwise one per input is required."""
        given = (domains,) if isinstance(domains, Domain) else domains
        if isinstance(given, str) or not all(isinstance(d, Domain) for d in given):
            raise TypeError(f"{where}: domains must be Domain objects, got {domains!r}")
        if len(given) == 0:
            return (Domain(),) * arity
        if len(given) == 1:
            return tuple(given) * arity
        if len(given) != arity:
            raise ValueError(
                f"{where}: {len(given)} domains for {arity} inputs; give one per input "
                "(or one for all)"
            )
        return tuple(given)

    @property
    def lower(self) -> float:
        """The smallest value drawn: ``low``, raised to ``margin`` when ``positive``."""
        return max(self.low, self.margin) if self.positive else self.low

    @property
    def avoid(self) -> tuple[float, ...]:
        """Points ordinary draws keep ``margin`` away from: excluded points and kinks."""
        return tuple(sorted({*self.exclude, *self.kinks}))

    def contains(self, values: float | npt.ArrayLike) -> bool:
        """Whether ``values`` (a number, or every element of an array) are ones ordinary draws
        may produce: in ``[lower, high]``, at least ``margin`` from excluded points and kinks
        (a ``distinct`` domain's spacing is not checked)."""
        v = np.asarray(values, dtype=np.float64)
        ok = (v >= self.lower) & (v <= self.high)
        for point in self.avoid:
            ok &= np.abs(v - point) >= self.margin
        return bool(ok.all())

    def describe(self) -> str:
        """A short human-readable summary, for ``dezero-ext ops``."""
        parts = [f"[{self.lower:g}, {self.high:g}]"]
        if self.positive:
            parts.append(">0")
        if self.exclude:
            parts.append("excl " + ",".join(f"{p:g}" for p in self.exclude))
        if self.kinks:
            parts.append("kinks " + ",".join(f"{p:g}" for p in self.kinks))
        if self.distinct:
            parts.append("distinct")
        if self.outside == "nan":
            parts.append("nan outside")
        return " ".join(parts)


def _round_inward(value: float, dtype: np.dtype[np.floating], inward: int) -> float:
    """``value`` rounded to ``dtype``, moved one step ``inward`` (+1 up, -1 down) if rounding
    took it out of the interval it bounds."""
    kind = dtype.type
    rounded = kind(value)
    if inward > 0 and float(rounded) < value:
        rounded = np.nextafter(rounded, kind(np.inf))
    if inward < 0 and float(rounded) > value:
        rounded = np.nextafter(rounded, kind(-np.inf))
    return float(rounded)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """The error an op's gradient may have against the numerical one, per dtype.

    ``rtol``/``atol`` apply to float64 checks, ``rtol32``/``atol32`` to float32 ones (the
    numerical reference is always computed in float64). The defaults follow JAX's per-dtype
    table; an ill-conditioned op raises them for itself.
    """

    rtol: float = 1e-5
    atol: float = 1e-6
    rtol32: float = 2e-3
    atol32: float = 2e-3

    def __post_init__(self) -> None:
        for name in ("rtol", "atol", "rtol32", "atol32"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Tolerance: {name} must be a finite number >= 0, got {value!r}")

    def for_dtype(self, dtype: np.dtype[np.generic] | type[np.generic]) -> tuple[float, float]:
        """``(rtol, atol)`` for checks in ``dtype``."""
        if np.dtype(dtype).itemsize >= 8:
            return self.rtol, self.atol
        return self.rtol32, self.atol32


class ShapeRule(enum.Enum):
    """How the checker draws the shapes of an op's inputs (when it has no ``sample``)."""

    ELEMENTWISE = "elementwise"
    """All inputs have one shape."""
    BROADCAST = "broadcast"
    """Shapes are mutually broadcastable (``add``)."""
    MATMUL = "matmul"
    """``(..., n, k) @ (..., k, m)`` with broadcast batch dimensions, 1-D cases included."""
    REDUCTION = "reduction"
    """One input; the checker also draws the op's ``axis`` (None, an int or a tuple) and
    ``keepdims`` parameters."""


class Draw(Protocol):
    """What an op's ``sample`` function may ask for; the checker answers with Hypothesis
    (so failing examples shrink), and the core needs no Hypothesis."""

    def integer(self, low: int, high: int) -> int:
        """An int in ``[low, high]``."""
        ...

    def boolean(self) -> bool:
        """True or False."""
        ...

    def choice(self, options: Sequence[T]) -> T:
        """One of ``options``."""
        ...

    def shape(
        self, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
    ) -> tuple[int, ...]:
        """An array shape."""
        ...

    def array(self, shape: tuple[int, ...], domain: Domain | None = None) -> Array:
        """An array of ``shape`` with values from ``domain`` (the op's first input's domain
        when None), in the dtype under check."""
        ...


@dataclass(frozen=True, slots=True)
class Case:
    """One example of an op's use: its input arrays and its parameters (constructor kwargs)."""

    inputs: tuple[Array, ...]
    params: Mapping[str, object] = field(default_factory=dict)


Sampler = Callable[[Draw], Case]
"""Draws a ``Case`` for an op whose inputs and parameters must be drawn together."""


class DeclarationFields(TypedDict, total=False):
    """The keywords that declare an op besides its name: ``Declaration``'s fields, each with
    its meaning and default there. ``OpSet.declare`` and the adapters (``torch_target``, ...)
    take them; ``domains`` may also be a single ``Domain``, for every input. A test keeps these
    keys equal to ``Declaration``'s fields."""

    arity: int
    optional: int
    domains: Domain | tuple[Domain, ...]
    shape_rule: ShapeRule
    sample: Sampler | None
    tolerance: Tolerance
    order: int
    dtypes: tuple[str, ...]
    ties: Ties
    description: str


_DTYPES: Final = ("float64", "float32", "float16")


@dataclass(frozen=True, slots=True)
class Declaration:
    """What is declared about an op, or about any target the gradient checker checks (a
    function, another framework's op): its inputs, where their values are drawn from, and the
    conventions it is checked against. An ``OpDef`` is one, with its ``Function``.

    - ``name``: what the reports call it.
    - ``arity``: the number of array inputs; ``optional``: how many of the last ones may be
      left out (a bias): the op takes ``arity - optional`` to ``arity`` inputs, and the checks
      run it both with and without them.
    - ``domains``: one ``Domain`` per input; given as a single ``Domain`` (or a 1-tuple) it is
      used for every input, empty means the default ``Domain()`` (normalised when built).
    - ``shape_rule``: how input shapes are drawn; ``sample`` overrides it, drawing inputs and
      parameters together (for ops with parameters such as ``reshape`` or ``conv2d``).
    - ``tolerance``: the allowed gradient error; ``order``: the highest derivative order the
      checks must verify (2 for an op whose ``backward`` is differentiable).
    - ``dtypes``: the floating dtypes the op supports and the checks run in.
    - ``ties``: for an op that selects among elements (``max``), how the gradient goes to
      tied elements: all to the ``"first"``, ``"split"`` evenly, or ``"none"`` (no ties arise).
    - ``description``: one line for ``dezero-ext ops``.

    Every field after ``name`` is keyword-only; ``DeclarationFields`` types them as keywords.
    Validated when built: an error names the op, the field, the value and what to give.
    """

    name: str
    _: KW_ONLY
    arity: int = 1
    optional: int = 0
    domains: tuple[Domain, ...] = ()
    shape_rule: ShapeRule = ShapeRule.ELEMENTWISE
    sample: Sampler | None = None
    tolerance: Tolerance = Tolerance()
    order: int = 1
    dtypes: tuple[str, ...] = ("float64", "float32")
    ties: Ties = "none"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"{type(self).__name__}: name must be a non-empty str, got {self.name!r}"
            )
        where = f"{type(self).__name__} {self.name!r}"
        if not isinstance(self.arity, int) or self.arity < 1:
            raise ValueError(f"{where}: arity must be an int >= 1, got {self.arity!r}")
        if not isinstance(self.optional, int) or not 0 <= self.optional < self.arity:
            raise ValueError(
                f"{where}: optional must be an int from 0 to arity - 1 = {self.arity - 1} "
                f"(at least one input is required), got {self.optional!r}"
            )
        object.__setattr__(self, "domains", Domain.per_input(self.domains, self.arity, where))
        if not isinstance(self.shape_rule, ShapeRule):
            raise TypeError(f"{where}: shape_rule must be a ShapeRule, got {self.shape_rule!r}")
        if self.shape_rule is ShapeRule.REDUCTION and self.arity != 1 and self.sample is None:
            raise ValueError(f"{where}: ShapeRule.REDUCTION takes one input, not {self.arity}")
        if self.sample is not None and not callable(self.sample):
            raise TypeError(f"{where}: sample must be callable, got {self.sample!r}")
        if not isinstance(self.tolerance, Tolerance):
            raise TypeError(f"{where}: tolerance must be a Tolerance, got {self.tolerance!r}")
        if not isinstance(self.order, int) or not 1 <= self.order <= 4:
            raise ValueError(f"{where}: order must be 1, 2, 3 or 4, got {self.order!r}")
        if self.ties not in get_args(Ties):
            raise ValueError(f"{where}: ties must be 'none', 'first' or 'split', got {self.ties!r}")
        if not isinstance(self.description, str):
            raise TypeError(f"{where}: description must be a str, got {self.description!r}")
        self._check_dtypes(where)

    def _check_dtypes(self, where: str) -> None:
        """Dtypes the checks can run in, and a value of each domain in each of them."""
        if isinstance(self.dtypes, str) or not isinstance(self.dtypes, tuple):
            raise TypeError(
                f"{where}: dtypes must be a tuple of dtype names, got {self.dtypes!r} "
                "(one dtype: dtypes=('float32',))"
            )
        if not self.dtypes:
            raise ValueError(
                f"{where}: dtypes is empty: name the dtypes the op supports and is checked in "
                f"(some of {', '.join(_DTYPES)})"
            )
        for dtype in self.dtypes:
            if dtype not in _DTYPES:
                raise ValueError(
                    f"{where}: unsupported dtype {dtype!r}: dtypes must be some of "
                    f"{', '.join(_DTYPES)}"
                )
        if self.sample is not None:
            return  # a sampler draws its own values
        for i, domain in enumerate(self.domains):
            for dtype in self.dtypes:
                if not domain.has_values(dtype):
                    raise ValueError(
                        f"{where}: input {i}'s {domain} has no {dtype} value to check (none "
                        "rounds inside it, or only subnormal ones do); widen it or drop "
                        f"{dtype} from dtypes"
                    )

    @staticmethod
    def check_keywords(where: str, keywords: Mapping[str, object]) -> None:
        """Refuse a keyword that is no declaration field, naming the closest one."""
        known = DeclarationFields.__annotations__
        for key, value in keywords.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise TypeError(
                    f"{where}: unknown declaration field {key!r} (given {value!r:.60}); {hint}"
                    f"the fields are {', '.join(known)}"
                )

    def domain(self, i: int) -> Domain:
        """The ``Domain`` of input ``i`` (the last input's for a target given more inputs
        than its ``arity``, as a function of ``*args`` is)."""
        return self.domains[min(i, len(self.domains) - 1)]

    @property
    def min_arity(self) -> int:
        """The number of required inputs: ``arity - optional``."""
        return self.arity - self.optional

    @property
    def arity_text(self) -> str:
        """``"3"``, or ``"2-3"`` for an op with an optional input."""
        return f"{self.min_arity}-{self.arity}" if self.optional else str(self.arity)


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
