"""Weights files that are not what ``save_weights`` writes: every failure is a
``WeightsFileError`` (or ``WeightsMismatchError``) naming the file and the member, the model
is left unchanged, no member's data is read before every header fits the model (a header may
claim any size), and the temporary files of saves killed half way are removed by the next
save."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dezero_ext_nn._weights import WeightsFileError, WeightsMismatchError
from dezero_ext_nn.models import MLP

X = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)


def _built() -> MLP:
    model = MLP((2,))
    model(X)
    return model


def _arrays(model: MLP) -> dict[str, np.ndarray]:
    return {path: p.data.copy() for path, p in model.namedparams()}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _good_members() -> dict[str, bytes]:
    return {"l0/W.npy": _npy(np.ones((3, 2), np.float32)), "l0/b.npy": _npy(np.ones(2, np.float32))}


def _lying_header(shape: tuple[int, ...]) -> bytes:
    """An .npy member whose header claims ``shape`` (float32) but holds 8 bytes of data."""
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + bytes(8)


def _refused(model: MLP, path: Path, error: type[Exception], *names: str) -> str:
    before = _arrays(model)
    with pytest.raises(error) as info:
        model.load_weights(path)
    text = str(info.value)
    for name in (str(path), *names):
        assert name in text, f"{name!r} not named in: {text}"
    after = _arrays(model)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    return text


def test_a_member_that_is_not_an_npy_file_is_named(tmp_path: Path) -> None:
    members = _good_members() | {"notes.txt": b"hello"}
    path = _archive(tmp_path / "w.npz", members)
    _refused(_built(), path, WeightsFileError, "'notes.txt'", ".npy")


def test_a_member_with_an_npy_name_but_no_npy_data_is_named(tmp_path: Path) -> None:
    members = _good_members() | {"l0/b.npy": b"not an array at all"}
    path = _archive(tmp_path / "w.npz", members)
    _refused(_built(), path, WeightsFileError, "'l0/b'")


def test_a_header_claiming_a_huge_array_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    members = _good_members() | {"l0/W.npy": _lying_header((10**12,))}
    path = _archive(tmp_path / "w.npz", members)
    tracemalloc.start()
    try:
        _refused(_built(), path, WeightsFileError, "'l0/W'", "(1000000000000,)", "holds 8 bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_shapes_are_compared_before_any_data_is_read(tmp_path: Path) -> None:
    # l0/W has the wrong shape and damaged data: the mismatch is what is reported, as the
    # headers are all checked against the model before any member's data is read
    # (large enough that reading its header does not read to its end, where zipfile checks
    # the CRC)
    wrong = np.zeros((40, 200), np.float32)
    wrong[-1, -1] = 7.0
    members = _good_members() | {"l0/W.npy": _npy(wrong)}
    data = bytearray(_archive(tmp_path / "w.npz", members).read_bytes())
    data[data.rindex(np.float32(7.0).tobytes())] ^= 0x10  # the CRC no longer matches
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    _refused(_built(), path, WeightsMismatchError, "l0/W: shape (40, 200) in the file")
    # with the right shape, the same damage is found when the data is read
    members["l0/W.npy"] = _npy(np.full((3, 2), 7.0, np.float32))
    data = bytearray(_archive(tmp_path / "w.npz", members).read_bytes())
    data[data.index(np.full(6, 7.0, np.float32).tobytes())] ^= 0x10
    path.write_bytes(bytes(data))
    _refused(_built(), path, WeightsFileError, "'l0/W'", "CRC")


def test_a_header_fitting_an_unbuilt_layer_but_not_its_data_is_refused(tmp_path: Path) -> None:
    # W of a layer not called yet takes its rows from the file: the header alone fits it
    members = _good_members() | {"l0/W.npy": _lying_header((10**11, 2))}
    path = _archive(tmp_path / "w.npz", members)
    tracemalloc.start()
    try:
        _refused(MLP((2,)), path, WeightsFileError, "'l0/W'", "holds 8 bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def _lying_sizes(path: Path, rows: int) -> Path:
    """An archive whose stored l0/W.npy holds 8 data bytes while its .npy header and both zip
    headers (local and central) claim the bytes of a (rows, 2) float32 array."""
    header = _lying_header((rows, 2))[:-8]
    _archive(path, _good_members() | {"l0/W.npy": header + bytes(8)})
    data = bytearray(path.read_bytes())
    claimed = len(header) + rows * 2 * 4
    for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size
        start = data.index(signature)
        assert struct.unpack_from("<I", data, start + at)[0] == len(header) + 8
        struct.pack_into("<I", data, start + at, claimed)
    path.write_bytes(bytes(data))
    return path


def test_zip_sizes_claiming_more_than_the_file_holds_are_refused(tmp_path: Path) -> None:
    path = _lying_sizes(tmp_path / "w.npz", 10**8)  # 800 MB claimed in a file of a few hundred
    tracemalloc.start()
    try:
        _refused(MLP((2,)), path, WeightsFileError, "'l0/W'", "800000")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_a_compressed_archive_still_loads(tmp_path: Path) -> None:
    source = _built()
    saved = _arrays(source)
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in saved.items():  # what numpy.savez_compressed writes
            archive.writestr(f"{key}.npy", _npy(value))
    model = MLP((2,))
    model.load_weights(path)
    loaded = _arrays(model)
    assert all(np.array_equal(loaded[k], saved[k]) for k in saved)


def test_an_object_dtype_header_is_refused_without_unpickling(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|O", "fortran_order": False, "shape": (3, 2)}
    )
    members = _good_members() | {"l0/W.npy": buffer.getvalue() + b"\x80\x04 not a pickle"}
    path = _archive(tmp_path / "w.npz", members)
    _refused(_built(), path, WeightsFileError, "'l0/W'", "allow_pickle=False")


def _load(model: MLP, path: Path) -> Exception | None:
    """The weights error ``load_weights`` raised, or None; any other exception propagates."""
    try:
        model.load_weights(path)
    except (WeightsFileError, WeightsMismatchError) as exc:
        return exc
    return None


def test_every_flipped_byte_is_refused_or_harmless(tmp_path: Path) -> None:
    source = _built()
    saved = _arrays(source)
    original = source.save_weights(tmp_path / "w.npz").read_bytes()
    path = tmp_path / "flipped.npz"
    outcomes: set[str] = set()
    for i in range(len(original)):
        corrupt = bytearray(original)
        corrupt[i] ^= 0x10
        path.write_bytes(bytes(corrupt))
        model = _built()
        before = _arrays(model)
        error = _load(model, path)
        after = _arrays(model)
        if error is not None:
            assert str(path) in str(error), f"byte {i}: {error}"
            assert all(np.array_equal(after[k], before[k]) for k in before), f"byte {i}"
            outcomes.add(type(error).__name__)
        else:  # a byte no reader looks at (a timestamp): the weights are exactly right
            assert all(np.array_equal(after[k], saved[k]) for k in saved), f"byte {i}"
            outcomes.add("loaded")
    assert "WeightsFileError" in outcomes


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    original = _built().save_weights(tmp_path / "w.npz").read_bytes()
    path = tmp_path / "short.npz"
    path.write_bytes(original[: len(original) // 2])
    _refused(_built(), path, WeightsFileError)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.npz").mkdir()
    _refused(_built(), tmp_path / "dir.npz", WeightsFileError)


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_save_removes_the_temporaries_of_dead_saves_only(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(finished.stdout)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            stale = tmp_path / f".w.npz.{dead}.{'a' * 32}.tmp"
            running = tmp_path / f".w.npz.{alive.pid}.{'b' * 32}.tmp"
            other_target = tmp_path / f".v.npz.{dead}.{'c' * 32}.tmp"
            not_ours = tmp_path / f".w.npz.{dead}.tmp"
            for p in (stale, running, other_target, not_ours):
                p.write_bytes(b"partial")
            _built().save_weights(tmp_path / "w.npz")
            assert _temporaries(tmp_path) == sorted(
                [running.name, other_target.name, not_ours.name]
            )
        finally:
            alive.kill()


_KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from dezero_ext_nn import _weights
    from dezero_ext_nn.models import MLP

    def stalled(file, arrays):
        file.write(b"half of it")
        file.flush()
        print("writing", flush=True)
        time.sleep(60)

    _weights._write_npz = stalled
    model = MLP((2,))
    model(np.ones((1, 3), np.float32))
    model.save_weights(sys.argv[1])
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_the_temporary_of_a_save_killed_with_sigkill_goes_at_the_next_save(tmp_path: Path) -> None:
    target = tmp_path / "w.npz"
    _built().save_weights(target)
    original = target.read_bytes()
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(target)], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert len(_temporaries(tmp_path)) == 1  # left behind, as any kill -9 leaves it
    assert target.read_bytes() == original  # and the old file intact
    _built().save_weights(target)
    assert _temporaries(tmp_path) == []
