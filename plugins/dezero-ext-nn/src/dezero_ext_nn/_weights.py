"""Weights on disk: ``.npz`` files written atomically and read without pickle.

Keys are parameter paths (``"l0/W"``). Loading checks every name, shape and dtype before it
changes anything, and names every mismatch at once.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from dezero_ext import Array, Variable

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
    value = owner.__dict__[name]
    data: Array = value.data if isinstance(value, Variable) else value
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
    # Ctrl-C leaves the old file (or none), never a partial one.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
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


def _write_npz(file: BinaryIO, arrays: dict[str, Array]) -> None:
    """What ``numpy.savez`` writes (one ``<key>.npy`` member per array, uncompressed), with
    ``allow_pickle=False``: only plain arrays go to disk."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _read(path: Path) -> dict[str, Array]:
    """Every array of the archive, read with ``allow_pickle=False``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:  # pickled data, or not a NumPy file at all
        raise WeightsFileError(
            f"load_weights: {path} is not an .npz archive of arrays ({exc}); weights are read "
            "with allow_pickle=False, so pickled files are refused: write them with "
            "save_weights"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise WeightsFileError(f"load_weights: cannot read {path} as .npz: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise WeightsFileError(
            f"load_weights: {path} holds a single array (.npy), not an .npz archive of named "
            "weights: write it with save_weights"
        )
    arrays: dict[str, Array] = {}
    with archive:
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                raise WeightsFileError(
                    f"load_weights: {path}: {key!r} holds Python objects ({exc}); weights are "
                    "read with allow_pickle=False, so pickled arrays are refused"
                ) from None
    return arrays


def _fits(template: ShapeTemplate, shape: tuple[int, ...]) -> bool:
    return len(template) == len(shape) and all(
        want is None or want == got for want, got in zip(template, shape, strict=True)
    )


def load_weights(layer: Layer, path: str | Path) -> None:
    source = npz_path(path) if not Path(path).exists() else Path(path)
    arrays = _read(source)
    entries = _entries(layer)
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
        if got.dtype != current.dtype:
            problems.append(f"{key}: dtype {got.dtype} in the file, {current.dtype} in the model")
    known = {key for key, *_ in entries}
    problems.extend(f"{key}: in the file, not in the model" for key in arrays if key not in known)
    if problems:
        raise WeightsMismatchError(source, problems)
    for key, owner, name, is_buffer in entries:
        data = arrays[key]
        if _template(owner, name) is not None:
            owner._create(name, data)
        elif is_buffer:
            object.__setattr__(owner, name, data)
        else:
            owner.__dict__[name].data = data  # rebinding: graphs keep the arrays they used
