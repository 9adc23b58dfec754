"""Targets for the checks on other array backends (``dezero-ext check --backend``): a right one
computing through its inputs' namespace, and mutants each backend check must catch.

They are ``Target``s written by hand (the derivatives of ``x**3``), not
dezero_ext ops: they test the checker's backend machinery on its own, whatever the core
accepts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from dezero_ext import Declaration, Domain, OpDef
from dezero_ext.core.backend import backend_of, namespace_of
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Variable
from dezero_ext.testing.protocol import Cotangents, Pullback

ALL = ("numpy", "array-api-strict", "dask", "cupy")


def _derivative(x: Array, k: int) -> Array:
    """The k-th derivative of x**3, in ``x``'s namespace and dtype."""
    if k == 0:
        return x * x * x
    if k == 1:
        return 3.0 * (x * x)
    if k == 2:
        return 6.0 * x
    return 0.0 * x + 6.0


class XpCube:
    """x ** 3, elementwise, through the namespace of its input (any backend)."""

    spec = Declaration("xp_cube", domains=(Domain(-2.0, 2.0),), order=2, backends=ALL)
    imports = ("import tests.backend_mutants",)

    @property
    def source(self) -> str:
        return f"tests.backend_mutants.{type(self).__name__}()"

    def _level(self, x: Array, cotangents: Cotangents, k: int) -> Array:
        scale = _derivative(x, k)
        for level in cotangents:
            scale = scale * level[0]
        return scale

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        (x,) = inputs
        return (self._level(x, cotangents, len(cotangents)),)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        (x,) = inputs
        k = len(cotangents)

        def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            return (self.gradient(x, vs[0] * self._level(x, cotangents, k + 1)),)

        return self.evaluate(inputs, params, cotangents), pullback

    def gradient(self, x: Array, g: Array) -> Array:
        """The gradient the pullback returns (the mutants change it)."""
        namespace_of(x, g, op=self.spec.name)  # one library: as an op computes
        return g


class XpMul:
    """x * y of two inputs of one shape, first order, through their namespace; no constant
    inputs (not ``HoldsConstants``): checked without the constant-input variant."""

    spec = Declaration("xp_mul", arity=2, domains=(Domain(-2.0, 2.0),), backends=ALL)
    source = "tests.backend_mutants.XpMul()"
    imports = ("import tests.backend_mutants",)

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        x, y = inputs
        if not cotangents:
            return (x * y,)
        (c,) = cotangents[0]
        return (c * y, c * x)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        x, y = inputs
        return self.evaluate(inputs, params, cotangents), lambda vs: (vs[0] * y, vs[0] * x)


class NumpyOnly(XpCube):
    """Declares NumPy only: not applicable on another backend."""

    spec = Declaration("numpy_only_cube", domains=(Domain(-2.0, 2.0),), order=1)


class EarlyCompute(XpCube):
    """Its backward looks at the values with ``np.asarray``: on Dask that computes the graph."""

    spec = Declaration("early_compute_cube", domains=(Domain(-2.0, 2.0),), backends=ALL)

    def gradient(self, x: Array, g: Array) -> Array:
        if not np.isfinite(np.asarray(g)).all():  # a debugging check left in: computes
            raise FloatingPointError("non-finite gradient")
        return g


class NumpyGradient(XpCube):
    """Its backward hands back a NumPy array whatever the input's library."""

    spec = Declaration("numpy_gradient_cube", domains=(Domain(-2.0, 2.0),), backends=ALL)

    def gradient(self, x: Array, g: Array) -> Array:
        if isinstance(x, np.ndarray):
            return g
        return np.full(tuple(x.shape), 1.0, dtype=np.dtype(str(x.dtype).rsplit(".")[-1]))


class WrongOnDask(XpCube):
    """Right on NumPy and array-api-strict; a Dask-only branch scales the gradient by 1.5."""

    spec = Declaration("wrong_on_dask_cube", domains=(Domain(-2.0, 2.0),), backends=ALL)

    def gradient(self, x: Array, g: Array) -> Array:
        return g * 1.5 if backend_of(x) == "dask" else g


class OtherDevice(XpCube):
    """Its backward moves the gradient to the default device (a GPU op writing to the CPU)."""

    spec = Declaration("other_device_cube", domains=(Domain(-2.0, 2.0),), backends=ALL)

    def gradient(self, x: Array, g: Array) -> Array:
        if backend_of(x) != "array-api-strict":
            return g
        import array_api_strict

        strict: Any = g  # strict's Array: to_device takes its Device
        return cast(Array, strict.to_device(array_api_strict.Device("CPU_DEVICE")))


XP_CUBE = XpCube()
NUMPY_ONLY = NumpyOnly()
WRONG_ON_DASK = WrongOnDask()


# ---------------------------------------------------------------- ops: dezero_ext Functions
# The same faults in registered-op form (an OpDef over a Function), checked through the core
# (Variables holding the backend's arrays, the engine's backward pass).


class _Cube(Function):
    """x ** 3 through the operators, which every backend's arrays have."""

    def forward(self, x: Array) -> Array:
        return x * x * x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return self.gradient(gy * (3.0 * x * x))

    def gradient(self, g: Variable) -> Variable:
        return g


class _EarlyComputeCube(_Cube):
    def gradient(self, g: Variable) -> Variable:
        if not np.isfinite(np.asarray(g.data)).all():  # a debugging check left in: computes
            raise FloatingPointError("non-finite gradient")
        return g


class _NumpyGradientCube(_Cube):
    def gradient(self, g: Variable) -> Variable:
        if isinstance(g.data, np.ndarray):
            return g
        dtype = np.dtype(str(g.data.dtype).rsplit(".")[-1])
        return Variable(np.ones(tuple(g.data.shape), dtype=dtype))  # NumPy, whatever g is


class _WrongOnDaskCube(_Cube):
    def gradient(self, g: Variable) -> Variable:
        return g * 1.5 if backend_of(g.data) == "dask" else g


_CUBE_DOMAIN = (Domain(-2.0, 2.0),)
_LAZY = ("numpy", "array-api-strict", "dask")
CUBE_OP = OpDef("cube_op", _Cube, domains=_CUBE_DOMAIN, order=2, backends=_LAZY)
EARLY_COMPUTE_OP = OpDef(
    "early_compute_op", _EarlyComputeCube, domains=_CUBE_DOMAIN, backends=_LAZY
)
NUMPY_GRADIENT_OP = OpDef(
    "numpy_gradient_op", _NumpyGradientCube, domains=_CUBE_DOMAIN, backends=_LAZY
)
WRONG_ON_DASK_OP = OpDef("wrong_on_dask_op", _WrongOnDaskCube, domains=_CUBE_DOMAIN, backends=_LAZY)
