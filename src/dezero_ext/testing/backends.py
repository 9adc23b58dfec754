"""The checks on another array backend: ``dezero-ext check --backend NAME``
(``CheckOptions(backend=...)``, pytest's ``--dezero-ext-backend``).

The checker draws its examples in NumPy as always; ``BackendTarget`` moves each one to the
backend (``array-api-strict`` on a device of its own, so a gradient left on the default device
shows; Dask in at least two chunks per axis where the axis has two elements; CuPy on the GPU),
runs the forward and the backward there, and brings the results back in one computation each.
Around the forward and the backward it counts the computations of a Dask graph (a
``dask.callbacks.Callback``): any is an *early compute* (``np.asarray``, ``float()`` or
``bool()`` on a Dask array), named with the line that did it. Each output and gradient must be
the backend's array (its namespace), in the input's dtype, on the input's device; the outputs
must be NumPy's to the declared tolerance, and the gradients are checked against numerical
differentiation of the NumPy forward as usual (the reference stays in NumPy: a wrong gradient
on one backend is a mismatch there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import traceback
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Final, cast

import numpy as np

from dezero_ext.core.backend import BACKENDS, backend_of
from dezero_ext.core.variable import Array
from dezero_ext.opdef import Declaration
from dezero_ext.testing.example import tolerance_for
from dezero_ext.testing.protocol import (
    Cotangents,
    HoldsConstants,
    Pullback,
    Target,
    TargetFaultError,
)

__all__ = [
    "BACKEND_CHOICES",
    "Backend",
    "BackendTarget",
    "BackendUnavailableError",
    "get_backend",
    "not_applicable",
    "on_backend",
]

BACKEND_CHOICES: Final = BACKENDS
"""What ``--backend`` takes: ``numpy`` (the ordinary check) or another of ``core.backend``'s."""

_EARLY_CAUSE: Final = (
    "early compute: np.asarray, np.array, float(), bool() or .item() on a Dask array computes "
    "its graph (and on a GPU array copies it to the host); compute through the inputs' "
    "namespace (dezero_ext.core.backend.namespace_of) and leave the result lazy"
)
_NAMESPACE_CAUSE: Final = (
    "namespace: the op left its inputs' array library or device (a NumPy function or "
    "constant, an array made without device=): compute through namespace_of(x) and create "
    "arrays with device=array_api_compat.device(x)"
)
# Frames of these libraries (and of this module) are not where an early compute comes from.
_LIBRARIES: Final = ("dask", "numpy", "array_api_compat", "array_api_strict", "toolz", "tlz")


class BackendUnavailableError(Exception):
    """The backend asked for cannot be used here: its library (or a GPU) is missing."""


class Backend:
    """One array backend the checker moves examples to: what ``move`` and ``fetch`` do, the
    dtypes it has, and how a computation is counted (Dask's only)."""

    name: str = ""
    dtypes: tuple[str, ...] = ("float64", "float32", "float16")
    install: str = ""

    def load(self) -> None:
        """Import the backend's libraries; ``BackendUnavailableError`` names what to install."""
        for module in ("array_api_compat", *self.modules()):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise BackendUnavailableError(
                    f"--backend {self.name} needs {module} ({exc}): {self.install}"
                ) from None

    def modules(self) -> tuple[str, ...]:
        return ()

    def move(self, x: Array) -> object:
        """A NumPy array of the checker on this backend (a copy)."""
        raise NotImplementedError

    def fetch(self, arrays: Sequence[object]) -> tuple[Array, ...]:
        """The backend's ``arrays`` as NumPy arrays, in one computation."""
        raise NotImplementedError

    def device(self, x: object) -> object:
        compat = importlib.import_module("array_api_compat")
        return compat.device(x)

    def dtype_name(self, x: object) -> str:
        return str(getattr(x, "dtype", "?")).rsplit(".", 1)[-1]

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[traceback.StackSummary]]:
        """The computations started inside the block, one stack each (none for an eager
        backend)."""
        yield []


class _Strict(Backend):
    name = "array-api-strict"
    dtypes = ("float64", "float32")  # the standard has no float16
    install = "pip install 'dezero-ext[array-api]'"

    def modules(self) -> tuple[str, ...]:
        return ("array_api_strict",)

    def _xp(self) -> ModuleType:
        return importlib.import_module("array_api_strict")

    def move(self, x: Array) -> object:
        xp = self._xp()
        # not the default device: a gradient created without device= lands elsewhere, and shows
        return xp.asarray(np.array(x, copy=True), device=xp.Device("device1"))

    def fetch(self, arrays: Sequence[object]) -> tuple[Array, ...]:
        cpu = self._xp().Device("CPU_DEVICE")
        return tuple(np.array(cast(Array, a.to_device(cpu)), copy=True) for a in arrays)  # type: ignore[attr-defined]  # strict's Array


class _Dask(Backend):
    name = "dask"
    install = "pip install 'dezero-ext[dask,array-api]'"

    def modules(self) -> tuple[str, ...]:
        return ("dask.array",)

    def move(self, x: Array) -> object:
        da = importlib.import_module("dask.array")
        chunks = tuple(max(1, math.ceil(n / 2)) for n in x.shape)  # two chunks where n >= 2
        return da.from_array(np.array(x, copy=True), chunks=chunks)

    def fetch(self, arrays: Sequence[object]) -> tuple[Array, ...]:
        dask = importlib.import_module("dask")
        # unoptimized: the graph the op built, as built (optimizing costs more than it saves
        # on the checker's small arrays)
        values = dask.compute(*arrays, scheduler="synchronous", optimize_graph=False)
        return tuple(np.array(v, copy=True) for v in values)

    def dtype_name(self, x: object) -> str:
        return str(np.dtype(getattr(x, "dtype", "O")))

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[traceback.StackSummary]]:
        dask = importlib.import_module("dask")
        callbacks = importlib.import_module("dask.callbacks")
        started: list[traceback.StackSummary] = []

        def start(dsk: object) -> None:
            started.append(traceback.extract_stack())

        with dask.config.set(scheduler="synchronous"), callbacks.Callback(start=start):
            yield started


class _CuPy(Backend):
    name = "cupy"
    install = "pip install cupy-cuda12x (the CuPy wheel of your CUDA) and 'dezero-ext[array-api]'"

    def modules(self) -> tuple[str, ...]:
        return ("cupy",)

    def load(self) -> None:
        super().load()
        cupy = importlib.import_module("cupy")
        try:
            count = int(cupy.cuda.runtime.getDeviceCount())
        except Exception as exc:  # noqa: BLE001 - CUDA's errors: no driver, no device
            raise BackendUnavailableError(f"--backend cupy: no GPU here ({exc})") from None
        if count < 1:
            raise BackendUnavailableError("--backend cupy: no GPU here (0 CUDA devices)")

    def move(self, x: Array) -> object:
        return importlib.import_module("cupy").array(x, copy=True)

    def fetch(self, arrays: Sequence[object]) -> tuple[Array, ...]:
        cupy = importlib.import_module("cupy")
        return tuple(cast(Array, cupy.asnumpy(a)) for a in arrays)

    def dtype_name(self, x: object) -> str:
        return str(np.dtype(getattr(x, "dtype", "O")))


_BACKENDS: Final[dict[str, Backend]] = {b.name: b for b in (_Strict(), _Dask(), _CuPy())}


def get_backend(name: str) -> Backend:
    """The backend called ``name``, loaded; ``BackendUnavailableError`` says what to install."""
    try:
        backend = _BACKENDS[name]
    except KeyError:
        choices = ", ".join(_BACKENDS)
        raise ValueError(f"no array backend {name!r}; the backends: {choices}") from None
    backend.load()
    return backend


def not_applicable(spec: Declaration, backend: str) -> str:
    """Why ``spec`` is not checked on ``backend`` (empty: it is)."""
    if backend == "numpy":
        return ""
    if backend not in spec.backends:
        return (
            f"not applicable: {spec.name!r} declares the backends {', '.join(spec.backends)}, "
            f"not {backend} (Declaration.backends)"
        )
    kept = _BACKENDS[backend].dtypes if backend in _BACKENDS else spec.dtypes
    if not set(spec.dtypes) & set(kept):
        return f"not applicable: {backend} has none of the dtypes of {spec.name!r}"
    return ""


class BackendTarget:
    """``base`` checked on ``backend`` (module docstring): ``linearize`` runs there, with its
    computations counted and its outputs and gradients checked for namespace, dtype and
    device; ``evaluate`` (the numerical reference) runs ``base`` on NumPy."""

    def __init__(self, base: Target, backend: Backend) -> None:
        self.base = base
        self.backend = backend
        spec = base.spec
        dtypes = tuple(d for d in spec.dtypes if d in backend.dtypes)
        self.spec: Declaration = (
            spec if dtypes == spec.dtypes else dataclasses.replace(spec, dtypes=dtypes)
        )
        self.source: str = base.source
        self.reproduce_source: object = getattr(base, "reproduce_source", None)
        self.imports: tuple[str, ...] = tuple(getattr(base, "imports", ()))

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        return self.base.evaluate(inputs, params, cotangents)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        backend = self.backend
        moved = [backend.move(x) for x in inputs]
        levels = [[backend.move(c) for c in level] for level in cotangents]
        with backend.counting() as started:
            ys, pullback = self.base.linearize(moved, params, levels)  # type: ignore[arg-type]  # the backend's arrays
        self._no_compute(started, "forward" if not cotangents else "forward and lower orders")
        dtype = str(inputs[0].dtype) if inputs else "float64"
        self._placed(ys, moved, dtype, "output")
        outputs = backend.fetch(ys)
        self._as_numpy(outputs, inputs, params, cotangents, dtype)

        def pull(vs: Sequence[Array]) -> tuple[Array, ...]:
            cots = [backend.move(v) for v in vs]
            with backend.counting() as started:
                grads = pullback(cots)  # type: ignore[arg-type]  # the backend's arrays
            self._no_compute(started, "backward")
            self._placed(grads, moved, dtype, "gradient")
            return backend.fetch(grads)

        return outputs, pull

    def _no_compute(self, started: list[traceback.StackSummary], phase: str) -> None:
        if not started:
            return
        where = _culprit(started[0])
        times = "once" if len(started) == 1 else f"{len(started)} times"
        raise TargetFaultError(
            "early_compute",
            f"the {phase} on {self.backend.name} computed its graph {times} before the checker "
            f"asked for the results; first {where}",
            cause=_EARLY_CAUSE,
        )

    def _placed(
        self, arrays: Sequence[object], like: Sequence[object], dtype: str, what: str
    ) -> None:
        """Each of ``arrays`` is the backend's, in ``dtype``, on the inputs' device."""
        backend = self.backend
        device = backend.device(like[0]) if like else None
        for i, a in enumerate(arrays):
            library = backend_of(a)
            at = i if what == "gradient" else None
            name = f"the {what} {'of input ' if what == 'gradient' else ''}{i}"
            if library != backend.name:
                raise TargetFaultError(
                    "namespace",
                    f"{name} is a {library} array ({type(a).__name__}), the inputs are "
                    f"{backend.name}'s",
                    at_input=at,
                    cause=_NAMESPACE_CAUSE,
                )
            if backend.dtype_name(a) != dtype:
                raise TargetFaultError(
                    "dtype",
                    f"{name} is {backend.dtype_name(a)} on {backend.name}, the input {dtype}",
                    at_input=at,
                    cause=f"dtype: a {backend.name} constant or result in another dtype",
                )
            if device is not None and backend.device(a) != device:
                raise TargetFaultError(
                    "namespace",
                    f"{name} is on device {backend.device(a)}, the inputs on {device}",
                    at_input=at,
                    cause=_NAMESPACE_CAUSE,
                )

    def _as_numpy(
        self,
        outputs: Sequence[Array],
        inputs: Sequence[Array],
        params: Mapping[str, object],
        cotangents: Cotangents,
        dtype: str,
    ) -> None:
        """The outputs on the backend are NumPy's, to the declared tolerance."""
        expected = self.base.evaluate(inputs, params, cotangents)
        rtol, atol = tolerance_for(self.spec.tolerance, dtype)
        for i, (got, want) in enumerate(zip(outputs, expected, strict=True)):
            if got.shape != want.shape:
                problem = f"shape {got.shape}, NumPy's {want.shape}"
            elif not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
                worst = int(np.argmax(np.abs(got - want))) if got.size else 0
                problem = (
                    f"{got.ravel()[worst]!r} at flat index {worst}, NumPy's "
                    f"{want.ravel()[worst]!r} (rtol {rtol:g}, atol {atol:g})"
                )
            else:
                continue
            level = "output" if not cotangents else f"order-{len(cotangents)} gradient"
            raise TargetFaultError(
                "backend",
                f"{level} {i} on {self.backend.name} differs from NumPy's: {problem}",
                cause=f"backend: a branch or kernel of the op for {self.backend.name} "
                "computes something else than for NumPy",
            )


class _HoldingBackendTarget(BackendTarget):
    """A ``BackendTarget`` whose base holds constants (``HoldsConstants``): so does it."""

    def holding(self, constants: Sequence[Array | None]) -> Target:
        """The held target of ``base`` on the backend (``base`` moves its constants where
        its inputs are: ``op_targets.HeldTarget``)."""
        held = cast(HoldsConstants, self.base).holding(constants)
        return on_backend(held, self.backend.name)


def _culprit(stack: traceback.StackSummary) -> str:
    """Where a computation was started from: the innermost frame outside the array libraries
    and this module (an op's ``np.asarray(x)``)."""
    for frame in reversed(stack):
        parts = frame.filename.replace("\\", "/").split("/")
        if frame.filename == __file__ or any(p in _LIBRARIES for p in parts[-4:-1]):
            continue
        if "contextlib" in parts[-1] or "threading" in parts[-1]:
            continue
        line = f": {frame.line.strip()}" if frame.line else ""
        return f"at {frame.filename}:{frame.lineno} in {frame.name}{line}"
    return "inside the array library"


def on_backend(target: Target, backend: str) -> Target:
    """``target`` checked on ``backend`` (``numpy``: ``target`` itself)."""
    if backend == "numpy" or (isinstance(target, BackendTarget) and target.backend_name == backend):
        return target
    kind = _HoldingBackendTarget if isinstance(target, HoldsConstants) else BackendTarget
    return kind(target, get_backend(backend))
