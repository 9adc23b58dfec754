"""Modes live in context variables: per block, per thread, per task."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from dezero_ext import (
    Variable,
    is_grad_enabled,
    is_training,
    no_grad,
    test_mode,
    using_config,
)
from dezero_ext.ops import square


def test_no_grad_and_test_mode_are_scoped_to_their_block() -> None:
    assert is_grad_enabled() and is_training()
    with no_grad():
        assert not is_grad_enabled()
        with using_config("enable_backprop", True):
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with test_mode():
        assert not is_training()
    assert is_training()


def test_modes_are_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert is_grad_enabled()


def test_using_config_rejects_unknown_names_and_non_bools() -> None:
    with (
        pytest.raises(ValueError, match="unknown mode 'enable_backprob'"),
        using_config(
            "enable_backprob",  # type: ignore[arg-type]  # the typo is the point of the test
            False,
        ),
    ):
        pass
    with (
        pytest.raises(TypeError, match="must be a bool"),
        using_config(
            "train",
            0,  # type: ignore[arg-type]  # the wrong type is the point of the test
        ),
    ):
        pass


def test_two_threads_do_not_see_each_others_modes() -> None:
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, bool] = {}

    def worker() -> None:
        with no_grad():
            inside.set()
            checked.wait(5)
            seen["worker"] = square(Variable(np.array(1.0))).creator is None

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    seen["main"] = square(Variable(np.array(1.0))).creator is not None
    checked.set()
    thread.join(5)
    assert seen == {"worker": True, "main": True}


def test_asyncio_tasks_do_not_see_each_others_modes() -> None:
    async def in_no_grad(started: asyncio.Event, release: asyncio.Event) -> bool:
        with no_grad():
            started.set()
            await release.wait()
            return is_grad_enabled()

    async def other(started: asyncio.Event, release: asyncio.Event) -> bool:
        await started.wait()
        enabled = is_grad_enabled()
        release.set()
        return enabled

    async def main() -> tuple[bool, bool]:
        started, release = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(in_no_grad(started, release), other(started, release))

    assert tuple(asyncio.run(main())) == (False, True)
