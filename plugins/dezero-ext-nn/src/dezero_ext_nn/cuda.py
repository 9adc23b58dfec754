"""GPU support, DeZero's names: ``gpu_enable``, ``get_array_module``, ``as_numpy``,
``as_cupy``, and ``to_gpu()``/``to_cpu()`` on layers, optimizers and loaders.

``model.to_gpu()`` moves every parameter, gradient and buffer to CuPy arrays;
``optimizer.to_gpu()`` its state; ``loader.to_gpu()`` gives CuPy batches; ``to_cpu()`` brings
each back to NumPy. (``to_backend(xp)`` is the same move to any array library.) The book's guard
``if dezero_ext_nn.cuda.gpu_enable: model.to_gpu()`` keeps a program on the CPU where no GPU
can be used: ``gpu_enable`` is True only when CuPy imports, sees a CUDA device, and the core
holds CuPy arrays as Variable data. ``cupy_available`` says whether CuPy itself imports.
Asking for the GPU anyway raises a ``GPUUnavailableError`` that says why.

The CuPy path has never run: the machines this was written on have no GPU. The moving code
is tested with ``array-api-strict`` standing in for CuPy (``tests/test_train_cuda_dask.py``);
the CuPy tests (``tests/test_train_cuda.py``) skip with that reason here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

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
    "why_no_gpu",
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


def _core_holds(array: Any) -> bool:  # an array of another library, untyped
    try:
        Variable(array)
    except TypeError:
        return False
    return True


def why_no_gpu() -> str | None:
    """Why no GPU can be used here (no CuPy, no CUDA device, a core that cannot hold CuPy
    arrays), or None when one can."""
    if cupy is None:
        return "CuPy is not installed (pip install cupy-cuda12x, on a machine with a GPU)"
    try:
        devices = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # noqa: BLE001 - no driver, no device: CUDA says so in many ways
        return f"CuPy sees no CUDA device ({type(exc).__name__}: {exc})"
    if devices < 1:
        return "CuPy sees no CUDA device"
    if not _core_holds(cupy.zeros(1)):
        return "dezero_ext's core cannot hold CuPy arrays as Variable data yet (array backends)"
    return None


gpu_enable: bool = why_no_gpu() is None
"""Whether models and loaders can move to a GPU (DeZero's name, so ``if cuda.gpu_enable:``
guards work): CuPy imports, sees a CUDA device, and the core holds its arrays."""


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for where there is none to use (no CuPy, no device, no core support)."""


def require_gpu(what: str) -> None:
    """Raise ``GPUUnavailableError`` naming ``what`` asked for the GPU, unless one is usable.

    Check ``gpu_enable`` first to stay on the CPU instead, as DeZero's examples do."""
    if not gpu_enable:
        raise GPUUnavailableError(
            f"{what}: no GPU to move to: {why_no_gpu()}. Guard the call with "
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
        raise GPUUnavailableError(f"as_cupy: cannot make a CuPy array: {why_no_gpu()}")
    return cupy.asarray(x)
