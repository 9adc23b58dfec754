"""Datasets, transforms and data loaders (dezero_ext_nn.datasets, .transforms, .dataloaders)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.harness import UnavailableError
from dezero_ext import Array
from dezero_ext_nn.dataloaders import DataLoader, SeqDataLoader
from dezero_ext_nn.datasets import (
    AsType,
    Compose,
    Dataset,
    Flatten,
    Normalize,
    SinCurve,
    Spiral,
    ToInt,
    get_spiral,
)


class Numbers(Dataset[Array]):
    """Example i is [i, 10 i], labelled i % 3."""

    def prepare(self) -> None:
        self.data = np.arange(10, dtype=np.float64)[:, None] * np.array([1.0, 10.0])
        self.label = np.arange(10) % 3


class Unlabelled(Dataset[None]):
    def prepare(self) -> None:
        self.data = np.arange(6.0).reshape(3, 2)


# ---------------------------------------------------------------------- Dataset
def test_an_example_and_a_slice_and_an_index_array() -> None:
    data = Numbers()
    x, t = data[4]
    np.testing.assert_array_equal(x, [4.0, 40.0])
    assert int(t) == 1
    xs, ts = data[2:5]
    np.testing.assert_array_equal(xs[:, 0], [2, 3, 4])
    np.testing.assert_array_equal(ts, [2, 0, 1])
    xs, ts = data[np.array([9, 0])]
    np.testing.assert_array_equal(xs[:, 0], [9, 0])
    np.testing.assert_array_equal(ts, [0, 0])
    assert len(data) == 10


def test_transforms_apply_per_example_in_slices_too() -> None:
    data = Numbers(
        transform=Compose([Normalize(1.0, 2.0), AsType(np.float32)]),
        target_transform=ToInt(np.int32),
    )
    x, t = data[3]
    assert x.dtype == np.float32 and t.dtype == np.int32
    np.testing.assert_allclose(x, [1.0, 14.5])
    xs, ts = data[[3, 1]]
    np.testing.assert_allclose(xs, [[1.0, 14.5], [0.0, 4.5]])
    assert ts.dtype == np.int32


def test_normalize_per_channel_and_flatten() -> None:
    image = np.ones((2, 2, 2)) * np.array([1.0, 3.0])[:, None, None]
    out = Normalize(mean=[1.0, 3.0], std=[1.0, 2.0])(image)
    np.testing.assert_array_equal(out, 0.0)
    assert Flatten()(image).shape == (8,)
    with pytest.raises(ValueError, match="one value per channel"):
        Normalize(mean=[1.0, 2.0, 3.0])(image)


def test_a_dataset_without_labels_gives_none() -> None:
    data = Unlabelled()
    assert data[1][1] is None
    x, t = next(DataLoader(data, 2, shuffle=False))
    np.testing.assert_array_equal(x, [[0, 1], [2, 3]])
    assert t is None


def test_prepare_must_set_data() -> None:
    class Empty(Dataset[Array]):
        pass

    with pytest.raises(TypeError, match=r"prepare\(\) must set self.data"):
        Empty()


# ---------------------------------------------------------------------- the toy sets
def test_spiral_shapes_classes_and_rng_untouched() -> None:
    state = np.random.get_state()
    x, t = get_spiral(train=True)
    assert x.shape == (300, 2) and x.dtype == np.float32
    assert t.dtype == np.int64 and np.bincount(t).tolist() == [100, 100, 100]
    assert np.all(np.hypot(x[:, 0], x[:, 1]) < 1.0)
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # type: ignore[index]  # the legacy tuple
    test_x, _ = get_spiral(train=False)
    assert not np.array_equal(test_x, x)
    assert len(Spiral()) == 300


def test_spiral_is_dezeros_data() -> None:
    try:
        dezero = peers.dezero()  # DeZero 0.0.13, with its NumPy 2 shim
    except UnavailableError as exc:
        pytest.skip(str(exc))
    state = np.random.get_state()
    for train in (True, False):
        x, t = get_spiral(train)
        their_x, their_t = dezero.datasets.get_spiral(train)
        np.testing.assert_array_equal(x, their_x)
        np.testing.assert_array_equal(t, their_t)
    np.random.set_state(state)  # DeZero's seeds the global state


def test_sin_curve_is_next_value_prediction() -> None:
    data = SinCurve(train=True)
    assert data.data.shape == (999, 1) and data.label is not None
    np.testing.assert_array_equal(data.label[:-1], data.data[1:])
    noise = data.data[:, 0] - np.sin(np.linspace(0, 2 * np.pi, 1000)[:-1])
    assert 0.02 < np.abs(noise).max() <= 0.05
    np.testing.assert_array_equal(SinCurve(seed=0).data, data.data)
    np.testing.assert_allclose(
        SinCurve(train=False).data[:, 0], np.cos(np.linspace(0, 2 * np.pi, 1000)[:-1])
    )


# ---------------------------------------------------------------------- DataLoader
def _epoch(loader: DataLoader[Array]) -> list[Array]:
    return [t.copy() for _, t in loader]


def test_an_epoch_covers_every_example_once_in_batches() -> None:
    data = Numbers()
    loader = DataLoader(data, 4, seed=0)
    batches = [x[:, 0].astype(int) for x, _ in loader]
    assert [len(b) for b in batches] == [4, 4, 2] and len(loader) == 3
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(batches), np.arange(10))  # shuffled


def test_labels_travel_with_their_examples() -> None:
    for x, t in DataLoader(Numbers(), 3, seed=5):
        np.testing.assert_array_equal(t, x[:, 0].astype(int) % 3)


def test_same_seed_same_batches_every_epoch_reshuffled() -> None:
    first, second = DataLoader(Numbers(), 3, seed=7), DataLoader(Numbers(), 3, seed=7)
    epochs_a = [np.concatenate(_epoch(first)) for _ in range(3)]
    epochs_b = [np.concatenate(_epoch(second)) for _ in range(3)]
    for a, b in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    other = np.concatenate(_epoch(DataLoader(Numbers(), 3, seed=8)))
    assert not np.array_equal(other, epochs_a[0])


def test_without_a_seed_numpys_global_state_applies() -> None:
    np.random.seed(3)
    a = np.concatenate(_epoch(DataLoader(Numbers(), 3)))
    np.random.seed(3)
    b = np.concatenate(_epoch(DataLoader(Numbers(), 3)))
    np.testing.assert_array_equal(a, b)


def test_no_shuffle_keeps_the_order_and_next_works() -> None:
    loader = DataLoader(Numbers(), 4, shuffle=False)
    x, _ = next(loader)
    np.testing.assert_array_equal(x[:, 0], [0, 1, 2, 3])
    x, _ = loader.next()
    np.testing.assert_array_equal(x[:, 0], [4, 5, 6, 7])


def test_a_loop_left_early_does_not_shorten_the_next_epoch() -> None:
    loader = DataLoader(Numbers(), 4, seed=1)
    for _ in loader:
        break
    assert len(_epoch(loader)) == 3


def test_a_list_of_pairs_works_too() -> None:
    pairs = [(np.full(2, float(i)), np.array(i % 2)) for i in range(5)]
    batches = list(DataLoader(pairs, 2, shuffle=False))
    np.testing.assert_array_equal(batches[0][0], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(batches[2][1], [0])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        DataLoader(Numbers(), 0)
    with pytest.raises(TypeError, match="seed must be"):
        DataLoader(Numbers(), 2, seed="a")  # type: ignore[arg-type]  # the bad input tested


def test_block_shuffling_keeps_each_block_together() -> None:
    loader = DataLoader(Numbers(), batch_size=3, seed=1, block=4)  # blocks 0-3, 4-7, 8-9
    epochs = [np.concatenate([x[:, 0] for x, _ in loader]).astype(int) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))  # every example once
        blocks = order // 4
        changes = np.flatnonzero(np.diff(blocks))
        assert len(changes) == 2  # each block's examples come in one run
    assert len({tuple(order.tolist()) for order in epochs}) > 1  # reshuffled each epoch
    again = DataLoader(Numbers(), batch_size=3, seed=1, block=4)
    assert np.concatenate([x[:, 0] for x, _ in again]).astype(int).tolist() == epochs[0].tolist()
    with pytest.raises(ValueError, match="block must be at least 1"):
        DataLoader(Numbers(), 2, block=0)


def test_seq_data_loader_walks_parallel_stretches_of_the_sequence() -> None:
    loader = SeqDataLoader(Numbers(), batch_size=2)  # jump = 10 // 2 = 5
    starts = [x[:, 0].astype(int).tolist() for x, _ in loader]
    assert starts == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    assert [x[:, 0].astype(int).tolist() for x, _ in loader] == starts  # the next epoch
    with pytest.raises(ValueError, match="batch_size 11 is more than the 10 examples"):
        SeqDataLoader(Numbers(), 11)


def test_a_seed_of_any_integer_type_gives_the_same_batches() -> None:
    data = SinCurve(seed=0)
    batches = [
        [t.tolist() for _, t in DataLoader(data, 50, seed=seed)]
        for seed in (0, np.int64(0), np.uint8(0))
    ]
    assert batches[0] == batches[1] == batches[2]
    with pytest.raises(TypeError, match="DataLoader: seed must be an int"):
        DataLoader(data, 4, seed=1.5)  # type: ignore[arg-type]  # the wrong type under test
