"""GPU support, DeZero's names: ``gpu_enable``, ``get_array_module``, ``as_numpy``,
``as_cupy``.

dezero_ext computes on NumPy only for now: GPU arrays come with the array backends (CuPy
through the Array API). So ``gpu_enable`` is False on every machine, CuPy installed or not,
and the book's guard ``if dezero.cuda.gpu_enable: model.to_gpu()`` keeps a program on the
CPU. ``cupy_available`` says whether CuPy itself imports. Asking for the GPU anyway
(``Layer.to_gpu()``, ``DataLoader.to_gpu()``, ``as_cupy`` without CuPy) raises a
``GPUUnavailableError`` that says why.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from dezero_ext import Array, Variable

__all__ = [
    "GPUUnavailableError",
    "as_cupy",
    "as_numpy",
    "cupy",
    "cupy_available",
    "get_array_module",
    "gpu_enable",
    "require_gpu",
]


def _import_cupy() -> ModuleType | None:
    try:
        return importlib.import_module("cupy")
    except Exception:  # noqa: BLE001 - a broken CUDA install fails in many ways: no CuPy then
        return None


cupy: ModuleType | None = _import_cupy()
"""The ``cupy`` module when it imports, else None."""

cupy_available: bool = cupy is not None
"""Whether CuPy imports on this machine."""

gpu_enable: bool = False
"""Whether models and loaders can move to a GPU: False until dezero_ext computes on CuPy
arrays (the array-backends work); DeZero's name, so ``if cuda.gpu_enable:`` guards work."""


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for where there is none to use (no CuPy, or no backend for it yet)."""


def _why_no_gpu() -> str:
    if cupy is None:
        return "CuPy is not installed (pip install cupy-cuda12x, on a machine with a GPU)"
    return (
        "CuPy is installed, but dezero_ext computes on NumPy arrays only for now (GPU arrays "
        "come with the array backends)"
    )


def require_gpu(what: str) -> None:
    """Raise ``GPUUnavailableError`` naming ``what`` asked for the GPU, unless one is usable.

    Check ``gpu_enable`` first to stay on the CPU instead, as DeZero's examples do."""
    if not gpu_enable:
        raise GPUUnavailableError(
            f"{what}: no GPU to move to: {_why_no_gpu()}. Guard the call with "
            "`if dezero_ext_nn.cuda.gpu_enable:` to run on the CPU."
        )


def get_array_module(x: object) -> ModuleType:
    """The array module of ``x`` (a Variable or an array): ``numpy``, or ``cupy`` for a CuPy
    array when CuPy is there."""
    if isinstance(x, Variable):
        x = x.data
    if cupy is None:
        return np
    module: ModuleType = cupy.get_array_module(x)
    return module


def as_numpy(x: object) -> Array:
    """``x`` (a Variable, a NumPy or CuPy array, a number) as a NumPy array."""
    if isinstance(x, Variable):
        x = x.data
    if isinstance(x, np.ndarray):
        return x
    if cupy is not None and isinstance(x, cupy.ndarray):
        result: Array = cupy.asnumpy(x)
        return result
    return np.asarray(x)


def as_cupy(x: object) -> object:
    """``x`` (a Variable, an array, a number) as a CuPy array; a ``GPUUnavailableError``
    without CuPy."""
    if isinstance(x, Variable):
        x = x.data
    if cupy is None:
        raise GPUUnavailableError(f"as_cupy: cannot make a CuPy array: {_why_no_gpu()}")
    return cupy.asarray(x)
