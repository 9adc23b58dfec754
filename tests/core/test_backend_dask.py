"""``dezero_ext.core.backend`` on other libraries' arrays: array-api-strict and Dask arrays
get their own namespace, and inputs from two libraries are refused naming the op and each
input's library (no implicit transfer). Needs ``pip install -e '.[dask,array-api]'``; CI's
step 3 installs both and runs this file."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext.core.backend import BackendMismatchError, backend_of, namespace_of

strict = pytest.importorskip("array_api_strict")
da = pytest.importorskip("dask.array")
compat = pytest.importorskip("array_api_compat")


def test_each_library_gets_its_own_namespace() -> None:
    x = strict.asarray([1.0, 2.0])
    assert namespace_of(x, 2.0) is strict
    assert backend_of(x) == "array-api-strict"
    d = da.ones((4, 4), chunks=2)
    assert compat.is_dask_namespace(namespace_of(d, d))
    assert backend_of(d) == "dask"


@pytest.mark.parametrize(
    "other", [lambda: strict.asarray([1.0]), lambda: da.ones(2, chunks=1)], ids=["strict", "dask"]
)
def test_arrays_of_two_libraries_are_refused_naming_them(other: object) -> None:
    foreign = other()  # type: ignore[operator]  # a factory
    name = backend_of(foreign)
    with pytest.raises(BackendMismatchError, match=rf"'add': .*input 0: numpy, input 1: {name}"):
        namespace_of(np.ones(1), foreign, op="'add'")
    with pytest.raises(BackendMismatchError, match="convert them yourself"):
        namespace_of(foreign, strict.asarray([1.0]) if name == "dask" else da.ones(1), op="'mul'")
