"""Weights on disk: ``.npz`` files written atomically and read without pickle.

Keys are parameter paths (``"l0/W"``). Loading reads every member's ``.npy`` header first
and checks every name, shape and dtype against the model before it reads any data (a header
may claim any size) or changes anything, and names every mismatch at once; whatever else is
wrong with the file is a ``WeightsFileError`` naming the file and the member. A save writes a
temporary file named with its process id, and removes those of saves whose process is gone
(killed half way).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import numpy as np

from dezero_ext import Array, Variable
from dezero_ext_nn._devices import to_library

if TYPE_CHECKING:
    from dezero_ext_nn._layer import Layer, ShapeTemplate

__all__ = ["WeightsFileError", "WeightsMismatchError", "load_weights", "save_weights"]


class WeightsMismatchError(ValueError):
    """The weights file does not fit the model; ``problems`` lists every mismatch."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"load_weights: {path} does not fit the model ({len(problems)} "
            f"mismatch{'es' if len(problems) != 1 else ''}); nothing was loaded:\n{listed}"
        )


class WeightsFileError(ValueError):
    """The file is not an ``.npz`` archive of plain arrays (pickled data is refused)."""


def npz_path(path: str | Path) -> Path:
    """``path`` with ``.npz`` appended when it lacks it (``numpy.savez``'s rule)."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _entries(layer: Layer) -> list[tuple[str, Layer, str, bool]]:
    return list(layer._saved("", {id(layer)}))


def _value(owner: Layer, name: str) -> Array:
    """Parameter or buffer ``name`` of ``owner`` as a NumPy array (a moved layer's downloaded:
    the file holds NumPy arrays, whatever library the layer computes in)."""
    value = owner.__dict__[name]
    data: Array = value.data if isinstance(value, Variable) else value
    if data.__class__ is not np.ndarray:
        from dezero_ext_nn.cuda import as_numpy

        return as_numpy(data)
    return data


def _template(owner: Layer, name: str) -> ShapeTemplate | None:
    pending: dict[str, ShapeTemplate] = owner.__dict__["_pending"]
    return pending.get(name)


def save_weights(layer: Layer, path: str | Path) -> Path:
    target = npz_path(path)
    arrays: dict[str, Array] = {}
    unbuilt: list[str] = []
    for key, owner, name, _ in _entries(layer):
        if _template(owner, name) is not None:
            unbuilt.append(key)
        arrays[key] = _value(owner, name)
    if unbuilt:
        raise RuntimeError(
            f"save_weights: {', '.join(unbuilt)} not created yet (the layer learns its input "
            "size at the first call): call the model once on a batch first, or give the "
            "layer its input size (in_size=..., in_channels=...)"
        )
    # Write beside the target, then rename over it: os.replace is atomic, so a crash or a
    # Ctrl-C leaves the old file (or none), never a partial one. A kill -9 leaves the
    # temporary: its name carries the pid, so a later save can tell it is stale.
    _remove_stale_temporaries(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries of earlier saves to ``target`` whose process is gone: only
    names this module makes (``.<name>.<pid>.<32 hex digits>.tmp``), only for a dead pid."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{32}}\.tmp")
    with contextlib.suppress(OSError):  # an unreadable directory: the save itself will say
        for entry in os.scandir(target.parent):
            found = pattern.fullmatch(entry.name)
            if found is not None and not _alive(int(found[1])):
                with contextlib.suppress(OSError):  # another save may remove it first
                    os.unlink(entry.path)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a reused pid counts: its temporary is kept)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # someone else's process, or a pid the system cannot check: keep it
    return True


def _write_npz(file: BinaryIO, arrays: dict[str, Array]) -> None:
    """What ``numpy.savez`` writes (one ``<key>.npy`` member per array, uncompressed), with
    ``allow_pickle=False``: only plain arrays go to disk."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


@dataclass(frozen=True, slots=True)
class _Member:
    """One ``<key>.npy`` member of the archive, as its header describes it."""

    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool


def _file_error(path: Path, what: str, key: str | None = None) -> WeightsFileError:
    where = f"{path}" if key is None else f"{path}: {key!r}"
    return WeightsFileError(f"load_weights: {where} {what}")


def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        with open(path, "rb") as f:
            head = f.read(len(np.lib.format.MAGIC_PREFIX))
        if head == np.lib.format.MAGIC_PREFIX:
            raise _file_error(
                path,
                "holds a single array (.npy), not an .npz archive of named weights: write "
                "it with save_weights",
            )
        return zipfile.ZipFile(path)
    except WeightsFileError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:  # pickled, or no zip at all
        raise _file_error(
            path,
            f"is not an .npz archive of arrays ({exc}); weights are read with "
            "allow_pickle=False, so pickled files are refused: write them with save_weights",
        ) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails in any of zipfile's ways
        raise _file_error(path, f"cannot be read as .npz: {type(exc).__name__}: {exc}") from None


def _headers(path: Path, archive: zipfile.ZipFile) -> dict[str, _Member]:
    """Every member's ``.npy`` header, read without reading any array data."""
    members: dict[str, _Member] = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise _file_error(
                path,
                "is not an .npy member: an .npz of weights holds only "
                "<key>.npy arrays (write the file with save_weights)",
                name,
            )
        key = name[: -len(".npy")]
        if key in members:
            raise _file_error(path, "appears twice in the archive", key)
        try:
            _check_sizes(info, os.path.getsize(path))
            members[key] = _header(info, archive, key)
        except WeightsFileError as exc:
            raise _file_error(path, str(exc), key) from None
        except Exception as exc:  # noqa: BLE001 - a corrupt entry, a header NumPy cannot parse
            raise _file_error(
                path, f"is not a readable .npy array: {type(exc).__name__}: {exc}", key
            ) from None
    return members


_DEFLATE_MAX_RATIO = 1032  # deflate's limit: no stream expands more than this


def _check_sizes(info: zipfile.ZipInfo, file_size: int) -> None:
    """The member's sizes must fit the file: a header claiming more than the file can hold
    would have that much memory allocated before the data runs out."""
    if info.compress_type == zipfile.ZIP_STORED:
        most = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:  # numpy.savez_compressed
        most = _DEFLATE_MAX_RATIO * info.compress_size + 1024
    else:
        raise WeightsFileError(
            f"is compressed with zip method {info.compress_type}; weights files are stored "
            "(save_weights, numpy.savez) or deflated (numpy.savez_compressed)"
        )
    if info.compress_size > file_size or info.file_size > most:
        raise WeightsFileError(
            f"claims {info.file_size} bytes ({info.compress_size} stored) in a file of "
            f"{file_size} bytes: the file is damaged"
        )


def _header(info: zipfile.ZipInfo, archive: zipfile.ZipFile, key: str) -> _Member:
    fmt = np.lib.format
    with archive.open(info) as stream:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise WeightsFileError(f"has .npy format version {version}; expected 1.0 or 2.0")
        offset = stream.tell()
    if dtype.hasobject:
        raise WeightsFileError(
            "holds Python objects; weights are read with allow_pickle=False, so pickled "
            "arrays are refused"
        )
    claimed = math.prod(shape) * dtype.itemsize
    held = info.file_size - offset
    if claimed != held:
        raise WeightsFileError(
            f"has a header claiming shape {shape} of {dtype} ({claimed} bytes) but holds "
            f"{held} bytes of data: the file is damaged"
        )
    return _Member(key, info, shape, dtype, fortran_order)


_CHUNK = 1 << 20


def _read_data(path: Path, archive: zipfile.ZipFile, member: _Member) -> Array:
    """The member's array, its size already checked against its header and the model."""
    flat = np.empty(math.prod(member.shape), dtype=member.dtype)
    try:
        with archive.open(member.info) as stream:
            _skip_header(stream)
            view = flat.data.cast("B")
            done = 0
            while done < len(view):
                n = stream.readinto(view[done : done + _CHUNK])  # type: ignore[attr-defined]  # ZipExtFile is a BufferedIOBase
                if not n:
                    raise EOFError(f"the data ends after {done} of {len(view)} bytes")
                done += n
            stream.read(1)  # at the end: zipfile checks the CRC, so a flipped bit is seen
    except Exception as exc:  # noqa: BLE001 - BadZipFile (CRC), zlib.error, EOFError, ...
        raise _file_error(
            path, f"cannot be read: {type(exc).__name__}: {exc}; the file is damaged", member.key
        ) from None
    array: Array = flat.reshape(member.shape, order="F" if member.fortran_order else "C")
    return array


def _skip_header(stream: IO[bytes]) -> None:
    fmt = np.lib.format
    if fmt.read_magic(stream) == (1, 0):
        fmt.read_array_header_1_0(stream)
    else:
        fmt.read_array_header_2_0(stream)


def _fits(template: ShapeTemplate, shape: tuple[int, ...]) -> bool:
    return len(template) == len(shape) and all(
        want is None or want == got for want, got in zip(template, shape, strict=True)
    )


def load_weights(layer: Layer, path: str | Path, cast: bool = False) -> None:
    source = npz_path(path) if not Path(path).exists() else Path(path)
    entries = _entries(layer)
    with _open_archive(source) as archive:
        members = _headers(source, archive)
        _check_fits(source, entries, members, cast)
        arrays = {key: _read_data(source, archive, m) for key, m in members.items()}
    for key, owner, name, is_buffer in entries:
        data = arrays[key]
        if cast:
            data = data.astype(_value(owner, name).dtype, copy=False)
        if _template(owner, name) is not None:
            owner._create(name, data)  # (in the layer's library, if it was moved)
            continue
        xp = owner.__dict__.get("_xp")
        if xp is not None:  # a moved layer (to_backend): the weights go where it computes
            data = to_library(data, xp)
        if is_buffer:
            object.__setattr__(owner, name, data)
        else:
            owner.__dict__[name].data = data  # rebinding: graphs keep the arrays they used


def _check_fits(
    source: Path,
    entries: list[tuple[str, Layer, str, bool]],
    arrays: dict[str, _Member],
    cast: bool,
) -> None:
    """Every key, shape and dtype of the file against the model's, from the headers alone."""
    problems: list[str] = []
    for key, owner, name, _ in entries:
        if key not in arrays:
            problems.append(f"{key}: in the model, missing from the file")
            continue
        got = arrays[key]
        current = _value(owner, name)
        template = _template(owner, name)
        shape_ok = (
            _fits(template, got.shape) if template is not None else got.shape == current.shape
        )
        if not shape_ok:
            want = (
                "(" + ", ".join("?" if d is None else str(d) for d in template) + ")"
                if template is not None
                else str(current.shape)
            )
            problems.append(f"{key}: shape {got.shape} in the file, {want} in the model")
        floats = got.dtype.kind == current.dtype.kind == "f"
        if got.dtype != current.dtype and not (cast and floats):
            fix = " (load_weights(..., cast=True) converts it)" if floats else ""
            problems.append(
                f"{key}: dtype {got.dtype} in the file, {current.dtype} in the model{fix}"
            )
    known = {key for key, *_ in entries}
    problems.extend(f"{key}: in the file, not in the model" for key in arrays if key not in known)
    if problems:
        raise WeightsMismatchError(source, problems)
