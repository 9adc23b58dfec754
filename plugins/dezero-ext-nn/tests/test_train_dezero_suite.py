"""DeZero's own suite against the toolkit (dezero_suite_run.py): its check helpers in
``dezero_ext_nn.utils``, the import mapping, and the bridge to a Chainer in another Python
(chainer_bridge.py), here served by this Python. DeZero's VGG16/ResNet tests against the real
Chainer run when ``DEZERO_EXT_CHAINER_PYTHON`` names a Python with chainer and numpy<2.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import unittest
from collections.abc import Iterator
from pathlib import Path

import book_dezero
import book_steps
import chainer_bridge
import dezero_suite_run
import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Function, Variable
from dezero_ext_nn.utils import array_allclose, array_equal, gradient_check, numerical_grad

HERE = Path(__file__).parent


class _WrongSquare(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x**2

    def backward(self, gy: Variable) -> Variable:
        return gy * 3.0 * self.inputs[0]  # 3x: wrong (the derivative of x**2 is 2x)


def test_array_helpers_take_variables_and_dezero_tolerances() -> None:
    a = np.array([1.0, 2.0])
    assert array_equal(Variable(a), a) and not array_equal(a, a[:1])
    assert array_allclose(Variable(a), a + 5e-6)  # within atol=1e-5
    assert not array_allclose(a, a + 1e-3)


def test_numerical_grad_leaves_x_alone() -> None:
    x = np.linspace(-1, 1, 5)
    grad = numerical_grad(F.sin, x)
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-7)
    np.testing.assert_array_equal(x, np.linspace(-1, 1, 5))


def test_gradient_check_passes_a_right_backward_and_fails_a_wrong_one() -> None:
    x = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((3, 1))
    assert gradient_check(lambda v: v * y, x)  # broadcast, as DeZero's TestMul
    assert not gradient_check(lambda v: _WrongSquare()(v), x)


@pytest.fixture(scope="module")
def bridge() -> Iterator[chainer_bridge.Bridge]:
    served = chainer_bridge.Bridge(sys.executable)  # this Python serves: the mechanics only
    yield served
    served.close()


def test_bridge_carries_arrays_by_value_and_objects_by_handle(
    bridge: chainer_bridge.Bridge,
) -> None:
    remote_np = bridge.module("numpy")
    ones = remote_np.ones((2, 3), dtype="float32")  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    assert isinstance(ones, np.ndarray) and ones.dtype == np.float32 and ones.shape == (2, 3)
    doubled = remote_np.multiply(np.arange(3.0), 2)  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    np.testing.assert_array_equal(doubled, [0.0, 2.0, 4.0])
    fraction = bridge.module("fractions").Fraction(1, 3)  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    assert isinstance(fraction, chainer_bridge.Remote)
    assert fraction.numerator == 1 and fraction.denominator == 3
    namespace = bridge.module("types").SimpleNamespace()  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    assert isinstance(namespace, chainer_bridge.Remote)
    namespace.grad = np.ones(2)  # set there, as DeZero's tests set a Chainer variable's grad
    np.testing.assert_array_equal(namespace.grad, np.ones(2))
    with bridge.module("contextlib").nullcontext(7) as entered:  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
        assert entered == 7
    assert bridge.module("builtins").list("ab")[1] == "b"  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter


def test_bridge_names_an_error_raised_there(bridge: chainer_bridge.Bridge) -> None:
    with pytest.raises(chainer_bridge.RemoteError, match=r"ZeroDivisionError: .*division"):
        bridge.module("operator").truediv(1, 0)  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    with pytest.raises(TypeError, match="cannot be sent to the Chainer server"):
        bridge.module("builtins").len(object())  # type: ignore[operator]  # a bridge proxy (typed object) calls into the other interpreter
    assert bridge.module("builtins").len("abc") == 3  # type: ignore[operator]  # still serving


def _run_suite(tests: list[Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HERE / "dezero_suite_run.py"), *map(str, tests), "-q", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=tests[0].parent,
    )


def test_dezero_style_tests_run_through_the_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a test written as DeZero's are, imports unchanged (DeZero's test_sum.py, abridged, and
    # its batch_nrom, sic), loaded here after dezero_suite_run's mapping, then put back
    source = tmp_path / "test_like_dezero.py"
    source.write_text(
        "import unittest\n"
        "import numpy as np\n"
        "import dezero\n"
        "import dezero.functions as F\n"
        "from dezero import Variable\n"
        "from dezero.utils import gradient_check, array_allclose\n\n\n"
        "class TestSum(unittest.TestCase):\n"
        "    def test_datatype(self):\n"
        "        self.assertTrue(F.sum(Variable(np.random.rand(10))).data.ndim == 0)\n\n"
        "    def test_backward(self):\n"
        "        x = np.random.rand(10, 20, 20)\n"
        "        self.assertTrue(gradient_check(lambda x: F.sum(x, axis=1), x))\n\n"
        "    def test_batch_nrom_in_test_mode(self):\n"
        "        x, gamma, beta = np.ones((2, 3)), np.full(3, 2.0), np.zeros(3)\n"
        "        with dezero.test_mode():\n"
        "            y = F.batch_nrom(x, gamma, beta, np.zeros(3), np.ones(3))\n"
        "        self.assertTrue(array_allclose(y, 2 * np.ones((2, 3))))\n"
    )
    for name in book_steps.MODULES:  # undone after the test: the real
        monkeypatch.setitem(sys.modules, name, None)  # dezero is DeZero again for the others
        if "." in name:
            monkeypatch.setattr(book_dezero, name.split(".", 1)[1], None, raising=False)
    dezero_suite_run.install_mapping()
    spec = importlib.util.spec_from_file_location("test_like_dezero", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    assert (result.testsRun, result.failures, result.errors) == (3, [], [])


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DEZERO_EXT_CHAINER_PYTHON"),
    reason="DEZERO_EXT_CHAINER_PYTHON names no Python with chainer and numpy<2",
)
def test_dezero_vgg16_and_resnet_tests_against_chainer() -> None:
    """DeZero's tests/test_vgg16.py and tests/test_resnet.py (book/dezero_tests/, unchanged):
    the toolkit's VGG16 with Chainer's VGG16Layers(None) weights gives Chainer's fc8."""
    tests = [HERE / "book" / "dezero_tests" / f"dezero_test_{n}.py" for n in ("vgg16", "resnet")]
    python = os.environ["DEZERO_EXT_CHAINER_PYTHON"]
    done = _run_suite(tests, "--chainer-python", python, "-p", "no:randomly")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
