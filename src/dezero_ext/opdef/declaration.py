"""The one declaration schema: ``Declaration`` (what is declared about an op or any checked
target) and ``DeclarationFields`` (its fields as keywords), with the ``ShapeRule`` and the
``Draw``/``Case`` sampler protocol they use."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Final, Literal, Protocol, TypeAlias, TypedDict, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from dezero_ext.core.backend import BACKENDS
from dezero_ext.core.variable import Array
from dezero_ext.opdef.domain import Domain, Tolerance

__all__ = [
    "Case",
    "Declaration",
    "DeclarationFields",
    "Draw",
    "ErrorInput",
    "JvpRule",
    "Reference",
    "Sampler",
    "ShapeRule",
    "Ties",
]

T = TypeVar("T")

Ties: TypeAlias = Literal["none", "first", "split"]
"""Where the gradient goes among tied elements (``Declaration.ties``)."""
JvpRule: TypeAlias = Literal["native", "fallback"]
"""How forward mode gets an op's JVP (``Declaration.jvp``): its own rule, or the fallback."""


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


Reference: TypeAlias = Callable[..., "Array | tuple[Array, ...]"]
"""An op's forward computed independently (``Declaration.reference``): called as
``reference(*inputs, **params)`` on float64 arrays, it returns the op's output (a tuple of
them for several outputs)."""


@dataclass(frozen=True, slots=True)
class ErrorInput:
    """Inputs an op must refuse (``Declaration.error_inputs``, OpInfo's ``error_inputs``):
    called with ``inputs`` (arrays) and ``params``, the op must raise ``raises`` (or a
    subclass) with a message that ``match`` finds (``re.search``)."""

    inputs: tuple[npt.ArrayLike, ...]
    raises: type[Exception]
    match: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, tuple):
            raise TypeError(f"ErrorInput: inputs must be a tuple of arrays, got {self.inputs!r}")
        if not (isinstance(self.raises, type) and issubclass(self.raises, Exception)):
            raise TypeError(f"ErrorInput: raises must be an Exception class, got {self.raises!r}")
        try:
            re.compile(self.match)
        except (re.error, TypeError) as exc:
            message = f"ErrorInput: match {self.match!r} is no regular expression: {exc}"
            raise ValueError(message) from None

    def describe(self) -> str:
        """``shapes (3,), (4,) with axis=5 -> ValueError /pattern/``, for reports and lists."""
        shapes = ", ".join(str(np.shape(x)) for x in self.inputs) or "no inputs"
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        given = f"shapes {shapes}" + (f" with {params}" if params else "")
        return f"{given} -> {self.raises.__name__} /{self.match}/"


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
    reference: Reference | None
    error_inputs: tuple[ErrorInput, ...]
    ndim: tuple[int, ...]
    jvp: JvpRule | None
    backends: tuple[str, ...]
    elementwise: bool


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
    - ``reference``: the forward computed independently on float64 arrays (a naive loop,
      ``math``, SciPy, mpmath): every drawn example's outputs are compared with it.
    - ``error_inputs``: ``ErrorInput``s the op must refuse with a given exception and message.
    - ``ndim``: the numbers of dimensions an input drawn by the ``shape_rule`` may have
      (``(2,)`` for a matmul of matrices only, as ``torch.mm``; empty: any the rule draws, up
      to 3); a ``sample`` draws its own shapes.
    - ``jvp``: ``"native"`` when the op has its own forward-mode rule (``Function.jvp``; the
      checker proves it), ``"fallback"`` when forward mode transposes its VJP; None: read off
      the op's ``Function`` (``OpDef.jvp_rule``), or unknown for another target.
    - ``backends``: the array libraries the op computes on (``core.backend.BACKENDS``:
      ``"numpy"``, ``"array-api-strict"``, ``"dask"``, ``"cupy"``), as SciPy's
      ``xp_capabilities``; NumPy only unless declared. ``dezero-ext ops`` shows them.
    - ``elementwise``: each output element depends only on the input elements at its own
      (broadcast) position, at every order, whatever the shape: the checker then evaluates
      an op's central differences on stacked points in one call (``testing/stacked.py``;
      each such call is verified against a separate evaluation).

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
    tolerance: Tolerance = field(default_factory=Tolerance)
    order: int = 1
    dtypes: tuple[str, ...] = ("float64", "float32")
    ties: Ties = "none"
    description: str = ""
    reference: Reference | None = None
    error_inputs: tuple[ErrorInput, ...] = ()
    ndim: tuple[int, ...] = ()
    jvp: JvpRule | None = None
    backends: tuple[str, ...] = ("numpy",)
    elementwise: bool = False

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
        if self.reference is not None and not callable(self.reference):
            raise TypeError(f"{where}: reference must be callable, got {self.reference!r}")
        if not isinstance(self.error_inputs, tuple) or not all(
            isinstance(e, ErrorInput) for e in self.error_inputs
        ):
            raise TypeError(
                f"{where}: error_inputs must be a tuple of ErrorInput, got {self.error_inputs!r}"
            )
        if not isinstance(self.ndim, tuple) or not all(
            isinstance(n, int) and 0 <= n <= 4 for n in self.ndim
        ):
            raise ValueError(
                f"{where}: ndim must be a tuple of ints from 0 to 4 (the numbers of dimensions "
                f"an input may have, e.g. (2,)), got {self.ndim!r}"
            )
        if self.jvp not in (None, *get_args(JvpRule)):
            raise ValueError(f"{where}: jvp must be 'native', 'fallback' or None, got {self.jvp!r}")
        if (
            not isinstance(self.backends, tuple)
            or "numpy" not in self.backends
            or not set(self.backends) <= set(BACKENDS)
        ):
            raise ValueError(
                f"{where}: backends must be a tuple of some of {', '.join(BACKENDS)}, numpy "
                f"included (every op computes on NumPy), got {self.backends!r}"
            )
        if not isinstance(self.elementwise, bool):
            raise TypeError(f"{where}: elementwise must be a bool, got {self.elementwise!r}")
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
