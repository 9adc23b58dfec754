"""The failure report: ``GradientCheckError`` and the ``Failure`` it carries.

A report says which op (and plugin), which derivative order and dtype, the shapes, the worst
Jacobian entry (output, input, index) with the analytic and numerical values there, the error
against the allowed error, the finite-difference step, whether a kink is near, a likely cause,
and the example that failed (the shrunk one, when Hypothesis found it).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.example import Example
from dezero_ext.testing.protocol import FaultKind
from dezero_ext.testing.reproduce import Source, combine, value_source

__all__ = [
    "Entry",
    "Failure",
    "FailureKind",
    "GradientCheckError",
    "example_lines",
    "format_failure",
    "reproduce_snippet",
]

FailureKind: TypeAlias = Literal["mismatch", "kink", "shape", "error", "forward"] | FaultKind
"""What failed: gradient values (``mismatch``), the convention at a kink (``kink``), a
gradient's ``shape`` or ``dtype``, the op raised (``error``), or its outputs differ from its
declared reference (``forward``)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a check failed: the Jacobian entry d output[output][output_index] /
    d input[input][input_index] (the parts known), the values compared there and the
    finite-difference ``step``. ``kink``: the entry sits on a kink (``numerical`` is then the
    value the declared convention allows)."""

    input: int | None = None
    input_index: tuple[int, ...] | None = None
    output: int | None = None
    output_index: tuple[int, ...] | None = None
    analytic: float | None = None
    numerical: float | None = None
    error: float | None = None
    allowed: float | None = None
    step: float | None = None
    kink: bool = False


@dataclass(frozen=True, slots=True)
class Failure:
    """Everything known about one failed gradient check: what failed (``kind``), at which
    derivative ``order``, on which ``example``, the ``worst`` entry, and the diagnosis
    (``kink_detail``, ``per_input``, ``causes``, ``notes``)."""

    kind: FailureKind
    order: int
    example: Example
    message: str = ""
    output_shapes: tuple[tuple[int, ...], ...] = ()
    worst: Entry | None = None
    kink_near: bool = False
    projection: tuple[float, float, float] | None = None
    """``vᵀJu``: analytic, numerical, allowed error."""
    kink_detail: str = ""
    per_input: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    taylor: str = ""
    """The Taylor remainder test's convergence rates (a step-free second opinion), if run."""


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


_HEADS: dict[str, str] = {
    "mismatch": "gradient mismatch",
    "kink": "gradient breaks the op's kink convention",
    "shape": "gradient of the wrong shape",
    "dtype": "gradient of the wrong dtype",
    "error": "the op raised",
    "forward": "the forward differs from its declared reference",
    "inplace": "the op modified an array it was given",
    "fast_path": "the first-order fast path (backward_array) disagrees with backward",
    "namespace": "a result left the inputs' array library or device",
    "early_compute": "the op computed a lazy array before the checker asked",
    "backend": "the op on another backend differs from NumPy",
}


def _context(f: Failure) -> list[str]:
    ex = f.example
    plugin = f" (plugin {ex.plugin!r})" if ex.plugin else ""
    backend = getattr(ex.target, "backend_name", "numpy")
    on = f", on {backend}" if backend != "numpy" else ""
    lines = [
        f"{_HEADS[f.kind]}: op {ex.name!r}{plugin}, order {f.order}, {ex.dtype}{on}",
        f"  input shapes:  {_shapes(ex.input_shapes)}",
    ]
    if ex.variant:
        lines.extend(_wrap("variant:", ex.variant))
    if f.output_shapes:
        lines.append(f"  output shapes: {_shapes(f.output_shapes)}")
    if ex.params:
        lines.append("  params:        " + ", ".join(f"{k}={v!r}" for k, v in ex.params.items()))
    if f.message:
        lines.extend(_wrap("problem:", f.message))
    return lines


def _worst(f: Failure) -> list[str]:
    w, ex = f.worst, f.example
    if w is None or w.input is None:
        return []
    where = f"input {w.input} at {list(w.input_index or ())}"
    if w.output is not None:
        where = f"output {w.output} at {list(w.output_index or ())}, " + where
    of = "d(output)" if f.order == 1 else f"d(order-{f.order - 1} gradient, random cotangent)"
    lines = [
        f"  worst element: {of}/d(input) for {where}",
        f"    analytic   {_num(w.analytic)}",
        f"    numerical  {_num(w.numerical)}",
    ]
    if w.error is not None and w.allowed is not None:
        lines.append(
            f"    error      {w.error:.3e} > allowed {w.allowed:.3e}"
            f"  (rtol {ex.rtol:g}, atol {ex.atol:g} for {ex.dtype})"
        )
    return lines


def _evidence(f: Failure) -> list[str]:
    lines: list[str] = []
    if f.worst is not None and f.worst.step is not None:
        lines.extend(
            _wrap(
                "step:",
                f"{f.worst.step:.3e} (central differences in {f.example.reference}; first step "
                "cbrt(eps) * max(1, |x|), by decades smaller or larger where the values "
                "need it)",
            )
        )
    if f.kind in ("mismatch", "kink"):
        kink = "yes" if f.kink_near else "no"
        lines.extend(_wrap("kink near:", kink + (f" - {f.kink_detail}" if f.kink_detail else "")))
    if f.projection is not None:
        a, n, allowed = f.projection
        lines.append(
            f"  projection:    vᵀJu analytic {a:.9e} vs numerical {n:.9e} (allowed {allowed:.2e})"
        )
    lines.extend(f"  {text}" for text in f.per_input)
    if f.taylor:
        lines.extend(_wrap("taylor test:", f.taylor))
    for n, cause in enumerate(f.causes):
        lines.extend(_wrap("likely cause:" if n == 0 else "", cause))
    for note in f.notes:
        lines.extend(_wrap("note:", note))
    return lines


def reproduce_snippet(ex: Example, order: int) -> Source:
    """The check of ``ex`` at ``order`` as a Python snippet (``expression`` holds its lines):
    the imports, the input arrays with their dtype, and the ``check_gradients`` call with
    every option the check used. ``notes`` say what it cannot (a class in ``__main__``)."""
    target: Source = getattr(ex.target, "reproduce_source", None) or Source(
        ex.target.source, tuple(getattr(ex.target, "imports", ()))
    )
    arrays = [value_source(x) for x in ex.inputs]
    parts: list[Source] = [target, *arrays]
    call = f"[{', '.join(f'x{i}' for i in range(len(ex.inputs)))}]"
    if ex.params:
        params = value_source(dict(ex.params))
        parts.append(params)
        call += f", {params.expression}"
    options = f"orders=({order},), seed={ex.seed}"
    if ex.full_jacobian:
        options += ", full_jacobian=True"
    backend = getattr(ex.target, "backend_name", "numpy")
    if backend != "numpy":
        options += f", backend={backend!r}"
    if ex.tolerance != ex.target.spec.tolerance:
        parts.append(Source("", ("from dezero_ext import Tolerance",)))
        options += f", tolerance={ex.tolerance!r}"
    call += f", options=CheckOptions({options})"
    statements = [f"x{i} = {a.expression}" for i, a in enumerate(arrays)]
    statements.append(f"check_gradients({target.expression}, {call})")
    checker = Source("", ("from dezero_ext.testing import CheckOptions, check_gradients",))
    source = combine([Source("", ("import numpy as np",)), *parts, checker], "")
    lines = [*_merge_imports(source.imports)]
    for statement in statements:
        lines.extend(wrap_code(statement))
    return Source("\n".join(lines), (), source.notes)


def _merge_imports(imports: tuple[str, ...]) -> list[str]:
    """``from m import a`` and ``from m import b`` as ``from m import a, b``."""
    merged: dict[str, list[str]] = {}
    for line in imports:
        if line.startswith("from ") and " import " in line:
            module, names = line[5:].split(" import ", 1)
            merged.setdefault(f"from {module} import ", []).extend(names.split(", "))
        else:
            merged.setdefault(line, [])
    return [head + ", ".join(dict.fromkeys(names)) for head, names in merged.items()]


def wrap_code(line: str, width: int = 96) -> list[str]:
    """A line of Python split after commas inside brackets (never inside a string), the
    continuation lines indented: still one statement."""
    pieces: list[str] = []
    depth, quote, start = 0, "", 0
    for n, char in enumerate(line):
        if quote:
            if char == quote and line[n - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth > 0 and line[n + 1 : n + 2] == " ":
            pieces.append(line[start : n + 1])
            start = n + 2
    pieces.append(line[start:])
    lines: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}" if current else piece
        if current and len(candidate) > width:
            lines.append(current)
            current = "    " + piece
        else:
            current = candidate
    lines.append(current)
    return lines


def example_lines(ex: Example, order: int) -> list[str]:
    """The example and the snippet that checks it again, for pasting into Python."""
    snippet = reproduce_snippet(ex, order)
    lines = [
        f"  example:       {ex.dtype} inputs, direction seed {ex.seed}; to reproduce, paste into "
        "Python:",
        *snippet.expression.splitlines(),
    ]
    for note in snippet.notes:
        lines.extend(_wrap("note:", note))
    return lines


def _reproduce(f: Failure) -> list[str]:
    return example_lines(f.example, f.order)


def format_failure(f: Failure) -> str:
    """The report as lines of text, readable in a terminal."""
    return "\n".join(_context(f) + _worst(f) + _evidence(f) + _reproduce(f))


class GradientCheckError(AssertionError):
    """An op's gradient disagrees with numerical differentiation; ``failure`` has the details."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(format_failure(failure))

    def __str__(self) -> str:
        return format_failure(self.failure)
