"""Functional transforms, as ``torch.func`` and JAX have them: ``grad``, ``value_and_grad``,
``vjp``, ``jvp`` (forward mode), ``jacobian`` and ``hessian``.

Each takes a function of Variables returning a Variable (``f(x) = (x ** 2).sum()``) and gives
a function of arrays (or Variables) returning arrays: the caller gets no graph, and no
Variable's ``grad`` changes (a model's parameters that ``f`` reads keep theirs). Transforms
nest: inside another transform, a transformed function returns Variables that stand in for
the arrays (as JAX's tracers do) and stay differentiable, so ``grad(grad(f))``,
``jvp(grad(f), ...)`` (forward-over-reverse, what ``hessian(mode="fwd")`` does) and
``grad(lambda x: jvp(f, (x,), (v,))[1].sum())`` work. The types say arrays; inside a transform
``dezero_ext.as_variable(value)`` (which returns a Variable as it is) types such a value as
the Variable it is.

Where ``torch.func`` and JAX differ we follow ``torch.func``: ``vjp``'s function returns a
tuple of gradients (one per primal), ``jvp`` takes tuples of primals and tangents, and a
Jacobian has the output's dimensions first, then the input's. Where we differ from both:
``hessian`` is reverse over reverse by default (``mode="fwd"``: forward over reverse, theirs),
because without ``vmap`` forward over reverse re-runs ``f`` per input element.
"""

from dezero_ext.func._jacobian import hessian, jacobian
from dezero_ext.func._transforms import Model, functional_call, grad, jvp, value_and_grad, vjp

__all__ = [
    "Model",
    "functional_call",
    "grad",
    "hessian",
    "jacobian",
    "jvp",
    "value_and_grad",
    "vjp",
]
