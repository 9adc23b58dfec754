"""dezero_ext.utils: the graph as DOT text, and its picture through Graphviz's dot program
(called with an argument list, never a shell)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import exp, square
from dezero_ext.utils import GraphvizNotFoundError, get_dot_graph, plot_dot_graph


def _graph() -> tuple[Variable, Variable]:
    x = Variable(np.array([1.0, 2.0], dtype=np.float32), name="x")
    y = square(exp(x)) + x
    y.name = 'y "out"'
    return x, y


def test_dot_text_has_every_variable_function_and_edge() -> None:
    x, y = _graph()
    text = get_dot_graph(y)
    assert text.startswith("digraph g {\n") and text.endswith("}\n")
    assert f'{id(x)} [label="x: (2,) float32", color=orange' in text
    assert 'label="y \\"out\\": (2,) float32"' in text  # quotes escaped
    for name in ("Exp", "Square", "Add"):
        assert text.count(f'label="{name}"') == 1, name
    assert text.count(f"{id(x)} [label=") == 1  # x feeds two functions, one node
    # x->exp->e->square->s->add->y, x->add: square's output s is held by nobody (add keeps
    # only links), yet it is drawn, from the shape and dtype its function recorded
    assert text.count(" -> ") == 7
    assert text.count('label="(2,) float32"') == 2  # e and s, unnamed
    add = y.creator
    assert add is not None
    square_ = add.input_creators()[0]
    assert f"{id(square_)} -> " in text and f"{id(square_)} -> {id(add)}" not in text
    assert f"{id(y.creator)} -> {id(y)}" in text


def _goldstein(x: Variable, y: Variable) -> Variable:
    z = (1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)) * (
        30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    )
    return z


def test_every_function_has_its_output_drawn_as_the_books_step26() -> None:
    x0, x1 = Variable(np.array(1.0), name="x"), Variable(np.array(1.0), name="y")
    z = _goldstein(x0, x1)
    z.name = "z"
    text = get_dot_graph(z)
    lines = text.splitlines()[1:-1]
    functions = [line.split()[0] for line in lines if "shape=box" in line]
    variables = [line.split()[0] for line in lines if "color=orange" in line]
    assert len(variables) == len(functions) + 2  # one output per function, and x and y
    edges = [line.split(" -> ") for line in lines if " -> " in line]
    for f in functions:  # each function's output is a variable node, and it feeds functions
        outs = [b for a, b in edges if a == f]
        assert len(outs) == 1 and outs[0] in variables, f
    for a, b in edges:  # no edge from a function straight to a function
        assert not (a in functions and b in functions)
    assert all("() float64" in line for line in lines if "color=orange" in line)


def test_not_verbose_shows_names_only_and_a_leaf_is_one_node() -> None:
    x, y = _graph()
    assert "float32" not in get_dot_graph(y, verbose=False)
    assert get_dot_graph(x).count("[label=") == 1
    with pytest.raises(TypeError, match="must be a Variable"):
        get_dot_graph(np.ones(2))  # type: ignore[arg-type]  # the bad input tested


def test_without_graphviz_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizNotFoundError, match="apt install graphviz"):
        plot_dot_graph(_graph()[1], to_file="g.png")


def _fake_dot(directory: Path) -> Path:
    """A `dot` that records its arguments and its input, and writes the output file."""
    script = directory / "dot"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "text = sys.stdin.read()\n"
        "pathlib.Path(args[args.index('-o') + 1]).write_text(repr(args) + '\\n' + text)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_dot_runs_with_an_argument_list_and_the_graph_on_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    target = tmp_path / "a graph; rm -rf x.svg"  # a shell would split this
    _, y = _graph()
    assert plot_dot_graph(y, to_file=target) == target
    args, _, text = target.read_text().partition("\n")
    assert args == repr(["-Tsvg", "-o", str(target)])
    assert text == get_dot_graph(y)


def test_a_file_without_extension_is_refused() -> None:
    with pytest.raises(ValueError, match="no extension"):
        plot_dot_graph(_graph()[1], to_file="graph")


def test_a_model_plots_its_forward_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dezero_ext_nn.models import MLP

    _fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    path = MLP((3, 2)).plot(np.ones((4, 5)), to_file=tmp_path / "model.pdf")
    args, _, text = path.read_text().partition("\n")
    assert args == repr(["-Tpdf", "-o", str(tmp_path / "model.pdf")])
    assert text.count('label="Linear"') == 2 and 'label="Sigmoid"' in text


def test_the_books_step35_graph_of_a_third_derivative_has_no_function_to_function_edge() -> None:
    from dezero_ext_math import tanh

    x = Variable(np.array(1.0), name="x")
    y = tanh(x)
    y.backward(create_graph=True)
    for _ in range(2):
        gx = x.grad
        assert gx is not None
        x.cleargrad()
        gx.backward(create_graph=True)
    gx = x.grad
    assert gx is not None
    gx.name = "gx3"
    lines = get_dot_graph(gx).splitlines()[1:-1]
    functions = {line.split()[0] for line in lines if "shape=box" in line}
    edges = [line.split(" -> ") for line in lines if " -> " in line]
    assert len(functions) > 10
    assert not [e for e in edges if e[0] in functions and e[1] in functions]
    assert all(sum(1 for a, _ in edges if a == f) == 1 for f in functions)
    assert 'label="gx3: () float64"' in lines[0]
