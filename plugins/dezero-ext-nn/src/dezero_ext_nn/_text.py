"""DeZero's ``Shakespear`` (sic; ``Shakespeare`` here, both names given): Karpathy's tiny
Shakespeare as a sequence of character ids, each labelled with the next."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dezero_ext_nn._dataset import DataFormatError, Dataset
from dezero_ext_nn.files import get_file
from dezero_ext_nn.transforms import Transform

__all__ = ["Shakespear", "Shakespeare"]


class Shakespeare(Dataset[np.ndarray]):
    """The characters of ``shakespear.txt`` (DeZero's file name, in the cache directory;
    downloaded when missing): ``data[i]`` is a character's id and ``label[i]`` the next one's
    (int64, ids in order of first appearance, as DeZero). ``char_to_id`` and ``id_to_char``
    map between them. ``train`` is accepted, as DeZero, and changes nothing."""

    URL: ClassVar[str] = (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    )
    FILE: ClassVar[str] = "shakespear.txt"

    char_to_id: dict[str, int]
    id_to_char: dict[int, str]

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        path = get_file(self.URL, self.FILE)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"{path}: not UTF-8 text ({exc})") from None
        if len(text) < 2:
            raise DataFormatError(f"{path}: {len(text)} characters; a sequence needs two")
        self.char_to_id = {}
        for char in text:
            self.char_to_id.setdefault(char, len(self.char_to_id))
        self.id_to_char = {i: c for c, i in self.char_to_id.items()}
        ids = np.fromiter((self.char_to_id[c] for c in text), np.int64, len(text))
        self.data = ids[:-1]
        self.label = ids[1:]


Shakespear = Shakespeare
"""DeZero's spelling."""
