"""A layer given an array of another library (Dask, ``array-api-strict``) never converts it to
NumPy behind the user's back (issue 23, item 4): it passes the array on when the op it applies
declares that backend, and otherwise raises a ``TypeError`` naming the array's backend and the
fix -- a Dask array is not computed, not a chunk of it read. Needs Dask and array-api-strict
(``pip install -e '.[dask,array-api]'``); CI's step 3 installs them and runs this file."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's name
from dezero_ext import Array
from dezero_ext.core.backend import BackendMismatchError
from dezero_ext_nn import conv, layer_ops
from dezero_ext_nn._layer import Layer
from dezero_ext_nn._layer import as_dtype as _as_dtype
from dezero_ext_nn.models import MLP

da = pytest.importorskip("dask.array")
xp = pytest.importorskip("array_api_strict")


class Recorded:
    """An array-like that records every read Dask makes of it (as of a file)."""

    def __init__(self, array: Array) -> None:
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.reads = 0

    def __getitem__(self, key: Any) -> Array:
        part = np.asarray(self.array[key])
        if part.size:  # (not the empty probe from_array makes)
            self.reads += 1
        return part


LAYERS: dict[str, tuple[Callable[[], Layer], tuple[int, ...], str]] = {
    "Linear": (lambda: L.Linear(3), (4, 5), "linear"),
    "Linear-built": (lambda: L.Linear(3, in_size=5), (4, 5), "linear"),
    "MLP": (lambda: MLP((6, 3)), (4, 5), "linear"),
    "Conv2d": (lambda: L.Conv2d(2, 3), (2, 1, 5, 5), "conv2d"),
    "Deconv2d": (lambda: L.Deconv2d(2, 3), (2, 1, 5, 5), "deconv2d"),
    "BatchNorm": (lambda: L.BatchNorm(), (4, 5), "batch_norm"),
}


def as_dtype(x: object, dtype: np.dtype[Any], *args: Any) -> Any:
    """``_layer.as_dtype`` typed for any input (a foreign array is no ``Operand``)."""
    return _as_dtype(x, dtype, *args)  # type: ignore[arg-type]  # foreign arrays on purpose


def _declared(op: str) -> tuple[str, ...]:
    opset = conv.ops if op in ("conv2d", "deconv2d") else layer_ops.ops
    return opset[op].backends


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_dask_array_is_never_computed_by_a_layer(name: str) -> None:
    make, shape, op = LAYERS[name]
    source = Recorded(np.random.default_rng(0).standard_normal(shape))
    x = da.from_array(source, chunks=2)
    layer = make()
    if "dask" in _declared(op):  # the op computes on Dask: the layer passes the array on,
        try:  # and the op computes lazily or refuses Dask data with NumPy weights
            y = layer(x)
        except BackendMismatchError as exc:
            message = str(exc)
        else:
            message = "dask numpy"
            assert hasattr(y.data, "__dask_graph__")
        assert "dask" in message and "numpy" in message
    else:
        with pytest.raises(TypeError, match=r"array of dask.*DataLoader.*compute\(\)") as info:
            layer(x)
        assert f"{op!r} computes on numpy only" in str(info.value)
    assert source.reads == 0  # nothing read, so nothing computed


def test_an_array_api_strict_array_is_refused_naming_its_backend() -> None:
    x = xp.ones((4, 5), dtype=xp.float64)
    if "array-api-strict" in _declared("linear"):  # passed on: the op refuses the mix
        with pytest.raises(BackendMismatchError, match=r"array-api-strict.*numpy"):
            L.Linear(3)(x)  # (NumPy weights)
    else:
        with pytest.raises(TypeError, match=r"Linear: the input is an array of array-api-strict"):
            L.Linear(3)(x)


def test_a_foreign_array_of_a_declared_backend_passes_through_cast_lazily() -> None:
    # The pass-through path, whatever the ops declare today: a declaration listing the
    # backends, as an op computing through its inputs' namespace does.
    op = dataclasses.replace(
        layer_ops.ops["linear"], backends=("numpy", "dask", "array-api-strict")
    )
    source = Recorded(np.arange(12.0).reshape(4, 3))
    lazy = da.from_array(source, chunks=2)
    cast = as_dtype(lazy, np.dtype(np.float32), op, "Linear")
    assert hasattr(cast, "__dask_graph__") and cast.dtype == np.float32
    assert as_dtype(lazy, np.dtype(np.float64), op, "Linear") is lazy
    assert source.reads == 0
    strict = as_dtype(xp.ones((2, 3), dtype=xp.float64), np.dtype(np.float32), op, "Linear")
    assert strict.dtype == xp.float32 and type(strict).__module__.startswith("array_api_strict")


def test_numpy_arrays_numbers_and_lists_are_converted_as_before() -> None:
    f32 = np.dtype(np.float32)
    assert as_dtype(np.ones(2), f32).dtype == f32
    assert as_dtype([1.0, 2.0], f32).dtype == f32
    assert as_dtype(2.0, f32).dtype == f32
    assert as_dtype(np.float64(2.0), f32).dtype == f32


def test_without_array_api_compat_the_dask_error_still_names_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "array_api_compat", None)  # the dask extra alone
    # linear computing on Dask goes through array-api-compat, and says to install it
    fix = "array-api-compat" if "dask" in _declared("linear") else r"DataLoader.*compute\(\)"
    with pytest.raises(TypeError, match=fix):
        L.Linear(3)(da.ones((4, 5), chunks=2))


def test_embed_id_never_computes_dask_ids() -> None:
    source = Recorded(np.array([0, 3, 1, 4]))
    ids = da.from_array(source, chunks=2)
    layer = L.EmbedID(5, 2)
    if "dask" in _declared("embed_id"):  # passed on: the op computes lazily or refuses a mix
        try:
            out = layer(ids)
        except BackendMismatchError as exc:
            message = str(exc)
        else:
            message = "dask numpy"
            assert hasattr(out.data, "__dask_graph__")
        assert "dask" in message and "numpy" in message
    else:
        with pytest.raises(TypeError, match=r"EmbedID: the input is an array of dask.*DataLoader"):
            layer(ids)
    assert source.reads == 0
