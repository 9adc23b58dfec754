"""Pictures of the graph: ``get_dot_graph`` (DOT text) and ``plot_dot_graph`` (an image
through Graphviz), as DeZero's ``dezero.utils``.

Rendering runs Graphviz's ``dot`` program with an argument list and the DOT text on its
standard input: no shell, no temporary file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dezero_ext.core.function import FunctionBase
from dezero_ext.core.variable import Variable

__all__ = ["GraphvizNotFoundError", "get_dot_graph", "plot_dot_graph"]

_INSTALL = (
    "install Graphviz, which provides the dot program (Debian/Ubuntu: apt install graphviz; "
    "macOS: brew install graphviz; conda: conda install graphviz; Windows: winget install "
    "graphviz), or write get_dot_graph(output) to a .dot file and render it elsewhere"
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not on the PATH."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _variable_node(v: Variable, verbose: bool) -> str:
    label = v.name or ""
    if verbose:
        label += (": " if v.name else "") + f"{v.shape} {v.dtype}"
    return f"{id(v)} [label={_quote(label)}, color=orange, style=filled]\n"


def _function_node(f: FunctionBase) -> str:
    lines = [
        f"{id(f)} [label={_quote(type(f).__name__)}, color=lightblue, style=filled, shape=box]\n"
    ]
    lines += [f"{id(x)} -> {id(f)}\n" for x in f.inputs]
    for ref in f.outputs:
        y = ref()
        if y is not None:  # an output nobody holds any more has no node
            lines.append(f"{id(f)} -> {id(y)}\n")
    return "".join(lines)


def get_dot_graph(output: Variable, verbose: bool = True) -> str:
    """The graph that computed ``output``, in Graphviz's DOT language: variables as orange
    ellipses (their name, and with ``verbose`` their shape and dtype), functions as blue
    boxes (their class name, as in DeZero), edges in the direction of the computation."""
    if not isinstance(output, Variable):
        raise TypeError(f"get_dot_graph: output must be a Variable, got {type(output).__name__}")
    text = [_variable_node(output, verbose)]
    pending: list[FunctionBase] = []
    seen: set[int] = set()
    shown: set[int] = {id(output)}

    def add(f: FunctionBase | None) -> None:
        if f is not None and id(f) not in seen:
            seen.add(id(f))
            pending.append(f)

    add(output.creator)
    while pending:
        f = pending.pop()
        text.append(_function_node(f))
        for x in f.inputs:
            if id(x) not in shown:
                shown.add(id(x))
                text.append(_variable_node(x, verbose))
            add(x.creator)
    return "digraph g {\n" + "".join(text) + "}\n"


def plot_dot_graph(
    output: Variable, verbose: bool = True, to_file: str | Path = "graph.png"
) -> Path:
    """Draw the graph of ``output`` into ``to_file`` with Graphviz's ``dot``; the format
    comes from the file's extension (``.png``, ``.svg``, ``.pdf``, ...). Returns the path.

    Raises ``GraphvizNotFoundError`` (saying how to install it) when ``dot`` is missing.
    """
    import subprocess

    path = Path(to_file)
    fmt = path.suffix[1:].lower()
    if not fmt:
        raise ValueError(
            f"plot_dot_graph: to_file {str(to_file)!r} has no extension to name the image "
            "format: use e.g. graph.png, graph.svg or graph.pdf"
        )
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            f"plot_dot_graph: Graphviz's dot program is not found: {_INSTALL}"
        )
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(path)],
        input=get_dot_graph(output, verbose),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"plot_dot_graph: dot failed to write {path} (exit status {result.returncode}): "
            f"{result.stderr.strip()}"
        )
    return path
