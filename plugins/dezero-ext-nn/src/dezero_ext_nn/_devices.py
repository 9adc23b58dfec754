"""Moving what a model trains with to another array library and back: the work behind
``Layer.to_gpu()``/``to_cpu()``/``to_backend(xp)``, the optimizers' and the loaders'.

Arrays go through NumPy (host memory): ``xp.asarray`` of a NumPy array is the upload (CuPy
copies it to the GPU), and ``as_numpy`` the download. A move changes nothing until every new
array exists and the core has accepted the first one as a Variable's data, so a library the
core cannot hold yet leaves the model where it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from dezero_ext import Operand, Variable
from dezero_ext.core.backend import backend_of, namespace_of
from dezero_ext.core.function import astype
from dezero_ext.opdef import Declaration

if TYPE_CHECKING:
    from dezero_ext_nn._layer import Layer

__all__ = [
    "foreign_as_dtype",
    "into_moved_layer",
    "is_foreign",
    "library",
    "move_arrays",
    "move_layer",
    "require_backend",
    "to_library",
]


def library(xp: ModuleType) -> str:
    """The top-level name of array module ``xp`` (``numpy``, ``cupy``, ``array_api_strict``)."""
    return xp.__name__.split(".")[0]


def _in(x: object, xp: ModuleType) -> bool:
    return type(x).__module__.split(".")[0] == library(xp)


def to_library(x: Any, xp: ModuleType) -> Any:
    """Array ``x`` as an array of module ``xp`` (itself when it is one already): through
    NumPy, a copy."""
    if _in(x, xp):
        return x
    from dezero_ext_nn.cuda import as_numpy

    host = as_numpy(x)
    if xp is np:
        return host
    try:
        return xp.asarray(host, copy=True)  # no memory shared with the array left behind
    except TypeError:  # an asarray without copy= (older CuPy): the upload copies anyway
        return xp.asarray(host)


def move_arrays(arrays: Iterable[Any], xp: ModuleType) -> list[Any]:
    """Each of ``arrays`` in ``xp`` (``to_library``), in order."""
    return [to_library(a, xp) for a in arrays]


def _accepted(array: Any, xp: ModuleType, what: str) -> None:
    """Raise a ``TypeError`` naming ``what`` when the core cannot hold ``array`` (of ``xp``)
    as a Variable's data."""
    try:
        Variable(array)
    except TypeError as exc:
        raise TypeError(
            f"{what}: dezero_ext's core cannot hold {backend_of(array)} arrays as Variable "
            f"data ({exc}); nothing was moved. Train on NumPy (to_cpu()), or with a dezero_ext "
            f"whose core takes {library(xp)} arrays (issue 23: array backends)"
        ) from None


def move_layer(root: Layer, xp: ModuleType, what: str) -> None:
    """Move every parameter (its data and gradient) and buffer of ``root`` and its
    sublayers to ``xp``; parameters created later (lazy layers) are created there. All or
    nothing: a ``TypeError`` naming ``what`` leaves everything as it was."""
    params = list(root.params())
    datas = move_arrays((p.data for p in params), xp)
    grads = [None if p.grad is None else to_library(p.grad.data, xp) for p in params]
    layers = list(root._layers())
    buffers = [
        (layer, name, to_library(layer.__dict__[name], xp))
        for layer in layers
        for name in layer.__dict__.get("_buffers", ())
    ]
    if datas and xp is not np:
        _accepted(datas[0], xp, what)
    for param, data, grad in zip(params, datas, grads, strict=True):
        param.data = data
        if grad is not None and param.grad is not None and grad is not param.grad.data:
            param.grad = Variable(grad)  # (a gradient already there stays the same object)
    for layer, name, value in buffers:
        object.__setattr__(layer, name, value)
    for layer in layers:
        layer.__dict__["_xp"] = None if xp is np else xp


# ---------------------------------------------------------------------- a layer's input
def is_foreign(x: object) -> bool:
    """Whether ``x`` is an array of a library other than NumPy (tested after ndarray)."""
    if isinstance(x, (np.generic, int, float, list, tuple)):
        return False
    return any(
        hasattr(x, name)
        for name in ("__array_namespace__", "__dask_graph__", "__cuda_array_interface__")
    )


_FIXES = {
    "dask": "draw batches with dezero_ext_nn.DataLoader (it computes each batch's chunks as "
    "NumPy arrays), or call x.compute() yourself",
    "cupy": "move it with dezero_ext_nn.cuda.as_numpy(x) (a copy from the GPU)",
}


def into_moved_layer(x: Operand, dtype: Any, op: Declaration | None, layer: str) -> Operand:
    """``as_dtype`` for a layer whose parameters moved to another library (``dtype`` is that
    library's): an input of the same library is cast there, anything else refused."""
    lib = type(dtype).__module__.split(".")[0]
    data = x.data if isinstance(x, Variable) else x
    if type(data).__module__.split(".")[0] != lib:
        raise TypeError(
            f"{layer}: its parameters are {lib} arrays (moved with to_gpu() or "
            f"to_backend) but the input is a {type(data).__module__.split('.')[0]} "
            f"{type(data).__name__}; a layer never moves an input behind your back: move the "
            "batches too (loader.to_gpu() or loader.to_backend(...))"
        )
    if isinstance(x, Variable):
        return x if x.dtype == dtype else astype(x, dtype)
    passed: Operand = foreign_as_dtype(x, dtype, op, layer)
    return passed


def foreign_as_dtype(x: Any, dtype: np.dtype[Any], op: Declaration | None, layer: str) -> Any:
    """``as_dtype`` for an array ``x`` of another library: cast in its own namespace when
    ``op`` declares its backend, else a ``TypeError`` naming the backend and the fix."""
    require_backend(x, op, layer)
    xp = namespace_of(x, op=layer)
    target = getattr(xp, dtype.name) if isinstance(dtype, np.dtype) else dtype
    return x if x.dtype == target else xp.astype(x, target)


def require_backend(x: Any, op: Declaration | None, layer: str) -> None:
    """Nothing when ``op`` declares the backend of array ``x`` (of another library than
    NumPy), else a ``TypeError`` naming the backend and the fix."""
    # Dask's without array-api-compat (the dask extra alone): its error must name the fix
    backend = "dask" if hasattr(x, "__dask_graph__") else backend_of(x)
    backends = ("numpy",) if op is None else op.backends
    name = "this op" if op is None else f"op {op.name!r}"
    if backend not in backends:
        fix = _FIXES.get(backend, "convert it to a NumPy array yourself")
        raise TypeError(
            f"{layer}: the input is an array of {backend} (shape {tuple(x.shape)}, dtype "
            f"{x.dtype}), but {name} computes on {', '.join(backends)} only, and a layer "
            f"never converts an array behind your back (it would compute it or copy it): {fix}"
        )
