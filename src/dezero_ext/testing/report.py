"""The failure report: ``GradientCheckError`` and the ``Failure`` it carries.

A report says which op (and plugin), which derivative order and dtype, the shapes, the worst
Jacobian entry (output, input, index) with the analytic and numerical values there, the error
against the allowed error, the finite-difference step, whether a kink is near, a likely cause,
and the example that failed (the shrunk one, when Hypothesis found it).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dezero_ext.core.variable import Array

__all__ = ["Failure", "FailureKind", "GradientCheckError", "format_failure"]

FailureKind = Literal["mismatch", "kink", "shape", "dtype", "error"]
"""What failed: gradient values (``mismatch``), the convention at a kink (``kink``), a
gradient's ``shape`` or ``dtype``, or the op raised (``error``)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Everything known about one failed gradient check."""

    op: str
    plugin: str | None
    order: int
    dtype: str
    kind: FailureKind
    input_shapes: tuple[tuple[int, ...], ...]
    params: Mapping[str, object]
    inputs: tuple[Array, ...]
    seed: int
    output_shapes: tuple[tuple[int, ...], ...] = ()
    output: int | None = None
    output_index: tuple[int, ...] | None = None
    input: int | None = None
    input_index: tuple[int, ...] | None = None
    analytic: float | None = None
    numerical: float | None = None
    error: float | None = None
    allowed: float | None = None
    rtol: float = 0.0
    atol: float = 0.0
    step: float | None = None
    kink_near: bool = False
    kink_detail: str = ""
    causes: tuple[str, ...] = ()
    per_input: tuple[str, ...] = ()
    projection: tuple[float, float, float] | None = None
    message: str = ""
    notes: tuple[str, ...] = field(default=())


def _shapes(shapes: tuple[tuple[int, ...], ...]) -> str:
    return ", ".join(str(s) for s in shapes) or "-"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value: .9e}"


def _array(x: Array, prefix: str) -> str:
    return prefix + np.array2string(
        np.asarray(x), precision=17, separator=", ", max_line_width=96, threshold=80, prefix=prefix
    )


def _wrap(label: str, text: str) -> list[str]:
    first = f"  {label:<15}"
    return textwrap.wrap(text, width=96, initial_indent=first, subsequent_indent=" " * len(first))


def format_failure(f: Failure) -> str:
    """The report as lines of text, readable in a terminal."""
    plugin = f" (plugin {f.plugin!r})" if f.plugin else ""
    head = {
        "mismatch": "gradient mismatch",
        "kink": "gradient breaks the op's kink convention",
        "shape": "gradient of the wrong shape",
        "dtype": "gradient of the wrong dtype",
        "error": "the op raised",
    }[f.kind]
    lines = [
        f"{head}: op {f.op!r}{plugin}, order {f.order}, {f.dtype}",
        f"  input shapes:  {_shapes(f.input_shapes)}",
    ]
    if f.output_shapes:
        lines.append(f"  output shapes: {_shapes(f.output_shapes)}")
    if f.params:
        lines.append("  params:        " + ", ".join(f"{k}={v!r}" for k, v in f.params.items()))
    if f.message:
        lines.extend(_wrap("problem:", f.message))
    if f.input is not None:
        where = f"input {f.input} at {list(f.input_index or ())}"
        if f.output is not None:
            where = f"output {f.output} at {list(f.output_index or ())}, " + where
        of = "d(output)" if f.order == 1 else f"d(order-{f.order - 1} gradient, random cotangent)"
        lines.append(f"  worst element: {of}/d(input) for {where}")
        lines.append(f"    analytic   {_num(f.analytic)}")
        lines.append(f"    numerical  {_num(f.numerical)}")
        if f.error is not None and f.allowed is not None:
            lines.append(
                f"    error      {f.error:.3e} > allowed {f.allowed:.3e}"
                f"  (rtol {f.rtol:g}, atol {f.atol:g} for {f.dtype})"
            )
    if f.step is not None:
        lines.append(
            f"  step:          {f.step:.3e} (cbrt(eps) * max(1, |x|); central differences, float64)"
        )
    kink = "yes" if f.kink_near else "no"
    lines.append(f"  kink near:     {kink}" + (f" - {f.kink_detail}" if f.kink_detail else ""))
    if f.projection is not None:
        a, n, allowed = f.projection
        lines.append(
            f"  projection:    vᵀJu analytic {a:.9e} vs numerical {n:.9e} (allowed {allowed:.2e})"
        )
    for text in f.per_input:
        lines.append(f"  {text}")
    for n, cause in enumerate(f.causes):
        lines.extend(_wrap("likely cause:" if n == 0 else "", cause))
    for note in f.notes:
        lines.extend(_wrap("note:", note))
    lines.append(f"  example (direction seed {f.seed}):")
    for i, x in enumerate(f.inputs):
        lines.append(_array(x, f"    x{i} = "))
    return "\n".join(lines)


class GradientCheckError(AssertionError):
    """An op's gradient disagrees with numerical differentiation; ``failure`` has the details."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(format_failure(failure))

    def __str__(self) -> str:
        return format_failure(self.failure)
