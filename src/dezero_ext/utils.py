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


def _variable_node(
    node: str, label: str | None, shape: object, dtype: object, verbose: bool
) -> str:
    text = label or ""
    if verbose:
        text += (": " if label else "") + f"{shape} {dtype}"
    return f"{node} [label={_quote(text)}, color=orange, style=filled]\n"


def _output_node(f: FunctionBase, index: int, verbose: bool, shown: set[str]) -> tuple[str, str]:
    """The node of ``f``'s output ``index`` and its DOT text ("" when already drawn): the
    Variable when something holds it, else a node drawn from the shape and dtype ``f``
    recorded (the engine frees an output that no backward reads)."""
    y = f.outputs[index]()
    node = str(id(y)) if y is not None else f"o{id(f)}_{index}"
    if node in shown:
        return node, ""
    shown.add(node)
    if y is not None:
        return node, _variable_node(node, y.name, y.shape, y.dtype, verbose)
    shape, dtype = f.output_meta(index)
    return node, _variable_node(node, None, shape, dtype, verbose)


def get_dot_graph(output: Variable, verbose: bool = True) -> str:
    """The graph that computed ``output``, in Graphviz's DOT language: variables as orange
    ellipses (their name, and with ``verbose`` their shape and dtype), functions as blue
    boxes (their class name, as in DeZero), edges in the direction of the computation.

    Every function's outputs are drawn, as in the book's pictures, also those the engine
    has freed (an op whose backward reads neither its inputs nor its output keeps only
    links): their shape and dtype are what the function recorded."""
    if not isinstance(output, Variable):
        raise TypeError(f"get_dot_graph: output must be a Variable, got {type(output).__name__}")
    shown: set[str] = {str(id(output))}
    text = [_variable_node(str(id(output)), output.name, output.shape, output.dtype, verbose)]
    pending: list[FunctionBase] = []
    seen: set[int] = set()

    def add(f: FunctionBase | None) -> None:
        if f is not None and id(f) not in seen:
            seen.add(id(f))
            pending.append(f)

    add(output.creator)
    while pending:
        f = pending.pop()
        text.append(
            f"{id(f)} [label={_quote(type(f).__name__)}, color=lightblue, style=filled, "
            "shape=box]\n"
        )
        for index in range(len(f.outputs)):
            node, drawn = _output_node(f, index, verbose, shown)
            text.append(drawn + f"{id(f)} -> {node}\n")
        for x in _inputs(f):
            if isinstance(x, tuple):  # the op keeps no inputs: the output of the function
                node, drawn = _output_node(x[0], x[1], verbose, shown)
                text.append(drawn + f"{node} -> {id(f)}\n")
                add(x[0])
            elif x is not None:
                node = str(id(x))
                if node not in shown:
                    shown.add(node)
                    text.append(_variable_node(node, x.name, x.shape, x.dtype, verbose))
                text.append(f"{node} -> {id(f)}\n")
                add(x.creator)
    return "digraph g {\n" + "".join(text) + "}\n"


def _inputs(f: FunctionBase) -> list[Variable | tuple[FunctionBase, int] | None]:
    """Each input of ``f``: its Variable, or (function, output index) for an op that keeps
    only links to inputs computed by other functions; None for a constant it does not keep."""
    if f.saves_inputs:
        return list(f.inputs)
    links = f._link_tuple()  # the graph's own walk, beside the core
    return [(link, 0) if isinstance(link, FunctionBase) else link for link in links]


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
