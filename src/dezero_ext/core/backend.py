"""Array backends: which array library an op's inputs come from, and its namespace.

An op computes through the namespace of its inputs (the Array API standard's
``array_namespace``, from ``array-api-compat``), so one graph can run on NumPy,
``array-api-strict`` (the standard's conformance backend), Dask (out-of-core, distributed) and
CuPy (GPU). NumPy is the fast path: ``namespace_of`` answers ``numpy`` after one type test per
input and never imports ``array-api-compat``, so ops on NumPy arrays cost what they did.

Inputs from two libraries are refused (``BackendMismatchError``) rather than converted: a
transfer would copy from a GPU or compute a Dask graph behind the user's back. Python numbers
are weak (they take the arrays' namespace). ``BACKENDS`` names the backends a declaration may
list (``Declaration.backends``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

import numpy as np

__all__ = [
    "BACKENDS",
    "BackendMismatchError",
    "backend_of",
    "device_of",
    "cast",
    "foreign_namespace",
    "namespace_of",
]

BACKENDS: Final = ("numpy", "array-api-strict", "dask", "cupy")
"""The backends an op may declare (``Declaration.backends``); ``numpy`` is every op's."""

_NUMPY_TYPES: Final = (np.ndarray, np.generic, int, float)  # Python numbers are weak
_INSTALL: Final = "pip install array-api-compat"


class BackendMismatchError(TypeError):
    """An op was given arrays of two array libraries (or devices)."""


def _compat() -> ModuleType:
    try:
        return importlib.import_module("array_api_compat")
    except ImportError as exc:
        raise TypeError(
            f"an array that is not NumPy's needs array-api-compat ({exc}): {_INSTALL}"
        ) from None


def backend_of(array: object) -> str:
    """The backend name of ``array`` (one of ``BACKENDS``, or its library's module name for
    another Array API library); ``"numpy"`` for NumPy arrays and scalars and Python numbers."""
    if isinstance(array, _NUMPY_TYPES):
        return "numpy"
    compat = _compat()
    if compat.is_dask_array(array):
        return "dask"
    if compat.is_cupy_array(array):
        return "cupy"
    module = type(array).__module__.split(".")[0]
    return "array-api-strict" if module == "array_api_strict" else module


def namespace_of(*arrays: object, op: str = "an op") -> ModuleType:
    """The array namespace the ``arrays`` share: ``numpy`` itself when all of them are NumPy's
    (or Python numbers), else ``array_api_compat.array_namespace`` of them. Raises
    ``BackendMismatchError`` naming ``op`` and each input's library when they come from two,
    and ``TypeError`` for an object that is no array."""
    foreign = [x for x in arrays if not isinstance(x, _NUMPY_TYPES)]
    if not foreign:
        return np
    names = [backend_of(x) for x in arrays if not isinstance(x, int | float)]
    if len(set(names)) > 1:
        listed = ", ".join(f"input {i}: {name}" for i, name in enumerate(names))
        raise BackendMismatchError(
            f"{op}: inputs from different array libraries ({listed}); dezero_ext never moves "
            "data between them (a copy from a GPU, a Dask graph computed): convert them "
            "yourself to one library first"
        )
    try:
        namespace: ModuleType = _compat().array_namespace(*foreign)
    except TypeError as exc:  # one library, several devices (two GPUs), or no array at all
        raise BackendMismatchError(f"{op}: {exc}") from None
    return namespace


def foreign_namespace(obj: object) -> ModuleType | None:
    """The namespace of ``obj`` when it is an array of another library than NumPy (an
    array-api-strict, Dask or CuPy array); None for NumPy's arrays and scalars, Python
    numbers and anything that is no array. Imports array-api-compat only for an object that
    has a ``shape`` and a ``dtype`` and is not NumPy's."""
    if isinstance(obj, _NUMPY_TYPES) or not (hasattr(obj, "shape") and hasattr(obj, "dtype")):
        return None
    compat = _compat()
    if not compat.is_array_api_obj(obj):
        return None
    namespace: ModuleType = compat.array_namespace(obj)
    return namespace


def device_of(array: object) -> object:
    """The device ``array`` lives on (``array_api_compat.device``; ``"cpu"`` for NumPy's):
    what an array made for it (labels moved to its library, zeros) must be created on, or a
    GPU's array meets one on the current device (array-api-strict's test devices likewise)."""
    if isinstance(array, _NUMPY_TYPES):
        return "cpu"
    device: object = _compat().device(array)
    return device


def cast(array: object, dtype: object) -> object:
    """``array`` cast to ``dtype`` (``dtype`` of the array's own library), by NumPy's
    ``astype`` for a NumPy array, by the namespace's ``astype`` otherwise (the Array API has
    no ``astype`` method)."""
    if isinstance(array, np.ndarray | np.generic):
        return array.astype(dtype)  # type: ignore[call-overload]  # a NumPy dtype here
    namespace = foreign_namespace(array)
    if namespace is None:
        raise TypeError(f"cast: {type(array).__name__} is not an array")
    return namespace.astype(array, dtype)
