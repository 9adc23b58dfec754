"""DeZero's ``dezero.utils`` names that a book program reaches through ``import dezero``:
the graph pictures (``dezero_ext.utils``) and ``get_file`` (``dezero_ext_nn.files``)."""

from __future__ import annotations

from dezero_ext.utils import GraphvizNotFoundError, get_dot_graph, plot_dot_graph
from dezero_ext_nn.files import cache_dir, get_file

__all__ = ["GraphvizNotFoundError", "cache_dir", "get_dot_graph", "get_file", "plot_dot_graph"]
