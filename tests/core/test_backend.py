"""``dezero_ext.core.backend`` on NumPy alone: the fast path answers ``numpy`` without
array-api-compat, Python numbers are weak, and anything else is named. (Other libraries'
arrays: ``test_backend_dask.py``.)"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dezero_ext.core.backend import BACKENDS, backend_of, namespace_of


def test_numpy_arrays_scalars_and_numbers_are_numpy() -> None:
    assert namespace_of(np.ones(3), np.float32(2.0), 3, 0.5) is np
    assert namespace_of() is np
    assert backend_of(np.ones(2)) == backend_of(np.float64(1.0)) == backend_of(2.0) == "numpy"
    assert BACKENDS[0] == "numpy"


def test_the_numpy_path_does_not_import_array_api_compat() -> None:
    saved = sys.modules.pop("array_api_compat", None)
    sys.modules["array_api_compat"] = None  # type: ignore[assignment]  # any import would fail
    try:
        assert namespace_of(np.ones(2), np.ones(3)) is np
        with pytest.raises(TypeError, match="needs array-api-compat"):
            namespace_of(np.ones(2), [1.0, 2.0])
    finally:
        del sys.modules["array_api_compat"]
        if saved is not None:
            sys.modules["array_api_compat"] = saved
