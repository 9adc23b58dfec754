"""Where an input's values are drawn from (``Domain``) and how far its gradient may be from
the numerical one (``Tolerance``): plain frozen data, each question the checks ask of a domain
answered here once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt

__all__ = ["Domain", "KinkRule", "Tolerance"]

KinkRule: TypeAlias = Literal["left", "right", "mean", "between"]
"""An op's derivative at a kink (``Domain.kink_rule``): the left or right one-sided
derivative, their mean, or any value between them."""


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
