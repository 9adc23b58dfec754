"""DeZero's ``dezero.utils`` names that a book program or DeZero's own tests reach through
``import dezero``: the graph pictures (``dezero_ext.utils``), ``get_file``
(``dezero_ext_nn.files``), and DeZero's check helpers ``array_equal``, ``array_allclose``,
``numerical_grad`` and ``gradient_check``, with DeZero's defaults.

These helpers answer one yes/no question as DeZero's tests ask it; the checker of every op's
gradient, with its diagnoses, is ``dezero_ext.testing``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dezero_ext import Array, Variable
from dezero_ext.utils import GraphvizNotFoundError, get_dot_graph, plot_dot_graph
from dezero_ext_nn.files import cache_dir, get_file

__all__ = [
    "GraphvizNotFoundError",
    "array_allclose",
    "array_equal",
    "cache_dir",
    "get_dot_graph",
    "get_file",
    "gradient_check",
    "numerical_grad",
    "plot_dot_graph",
]


# f(x, *args, **kwargs): x a Variable or an array, the result a Variable or an array
Tested = Callable[..., object]


def _array(a: object) -> Array:
    return np.asarray(a.data if isinstance(a, Variable) else a)


def array_equal(a: object, b: object) -> bool:
    """True when ``a`` and ``b`` (arrays or Variables) have the same shape and elements."""
    return bool(np.array_equal(_array(a), _array(b)))


def array_allclose(a: object, b: object, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when ``a`` and ``b`` (arrays or Variables) agree within DeZero's default
    tolerances (``rtol=1e-4``, ``atol=1e-5``)."""
    return bool(np.allclose(_array(a), _array(b), rtol=rtol, atol=atol))


def numerical_grad(f: Tested, x: Variable | Array, *args: object, **kwargs: object) -> Array:
    """The gradient of ``sum(f(x, *args, **kwargs))`` at ``x`` by central differences
    (``eps = 1e-4``, DeZero's), perturbing one element of ``x`` at a time."""
    eps = 1e-4
    base = np.array(_array(x))  # a writable copy: x itself is left as it was
    grad = np.zeros_like(base)
    for idx in np.ndindex(*base.shape):
        value = base[idx].copy()
        sums = []
        for shifted in (value + eps, value - eps):
            base[idx] = shifted
            sums.append(_array(f(base.copy(), *args, **kwargs)).sum())
        base[idx] = value
        grad[idx] = (sums[0] - sums[1]) / (2 * eps)
    return grad


def gradient_check(
    f: Tested,
    x: Variable | Array,
    *args: object,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    **kwargs: object,
) -> bool:
    """True when backpropagation's gradient of ``sum(f(x, ...))`` at ``x`` (in float64, as
    DeZero computes it) matches ``numerical_grad``'s within ``rtol``/``atol``."""
    x64 = Variable(_array(x).astype(np.float64))
    num_grad = numerical_grad(f, x64.data, *args, **kwargs)
    y = f(x64, *args, **kwargs)
    if not isinstance(y, Variable):
        raise TypeError(f"gradient_check: f must return a Variable, got {type(y).__name__}")
    y.backward()
    if x64.grad is None:
        return False  # y does not depend on x
    bp_grad = x64.grad.data
    if bp_grad.shape != num_grad.shape:
        raise ValueError(
            f"gradient_check: the gradient's shape {bp_grad.shape} differs from x's "
            f"{num_grad.shape}"
        )
    return array_allclose(num_grad, bp_grad, rtol=rtol, atol=atol)
