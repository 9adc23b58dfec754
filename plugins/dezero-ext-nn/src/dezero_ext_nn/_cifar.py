"""CIFAR-10 and CIFAR-100 (``dezero_ext_nn.datasets``), read from their *binary* archives:
no pickle (DeZero read the pickled Python version)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from dezero_ext import Array
from dezero_ext_nn._dataset import DEFAULT, DataFormatError, Dataset, _Default, show_grid
from dezero_ext_nn.files import get_file
from dezero_ext_nn.transforms import Compose, Normalize, ToFloat, Transform

__all__ = ["CIFAR10", "CIFAR100"]


_IMAGE = 3 * 32 * 32  # 1024 red, 1024 green, 1024 blue bytes
_RECORD = 1 + _IMAGE  # CIFAR-10: a label byte, then the image


class CIFAR10(Dataset[Array]):
    """CIFAR-10: 50,000 training or 10,000 test images, ``data`` (N, 3, 32, 32) uint8,
    ``label`` int64. The default ``transform`` is DeZero's: float32, ``(x - 0.5) / 0.5``.

    Read from the binary archive ``cifar-10-binary.tar.gz`` in the cache directory (members
    ``cifar-10-batches-bin/data_batch_1.bin`` ... ``_5.bin`` and ``test_batch.bin``)."""

    URL: ClassVar[str] = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    SHA256: ClassVar[str | None] = None  # not verified here: recorded at first download
    NAMES: ClassVar[tuple[str, ...]] = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )

    def __init__(
        self,
        train: bool = True,
        transform: Transform | _Default | None = DEFAULT,
        target_transform: Transform | None = None,
    ) -> None:
        if transform is DEFAULT:
            transform = Compose([ToFloat(), Normalize(mean=0.5, std=0.5)])
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        path = get_file(self.URL, sha256=self.SHA256)
        wanted = [f"data_batch_{i}.bin" for i in range(1, 6)] if self.train else ["test_batch.bin"]
        chunks = [_cifar_member(path, "cifar-10-batches-bin", name, _RECORD) for name in wanted]
        records = np.concatenate(chunks).reshape(-1, _RECORD)
        self.label = records[:, 0].astype(np.int64)
        self.data = records[:, 1:].reshape(-1, 3, 32, 32)

    @classmethod
    def labels(cls) -> dict[int, str]:
        """Class index to name."""
        return dict(enumerate(cls.NAMES))

    def show(self, row: int = 10, col: int = 10) -> None:
        """Draw ``row`` x ``col`` examples picked at random (NumPy's global random state, as
        DeZero) in one colour picture with matplotlib (the ``[examples]`` extra)."""
        picks = np.random.randint(0, len(self.data), row * col)
        images = self.data[picks].transpose(0, 2, 3, 1) / 255
        show_grid(images, row, col, f"{type(self).__name__}.show")


_FINE = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
train trout tulip turtle wardrobe whale willow_tree wolf woman worm"""
_COARSE = """aquatic_mammals fish flowers food_containers fruit_and_vegetables
household_electrical_devices household_furniture insects large_carnivores
large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores
medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1
vehicles_2"""


class CIFAR100(CIFAR10):
    """CIFAR-100: 50,000 training or 10,000 test images, as CIFAR-10, with 100 fine classes
    grouped in 20 coarse ones: ``label_type='fine'`` (the default, as DeZero) or ``'coarse'``
    picks the labels.

    Read from the binary archive ``cifar-100-binary.tar.gz`` in the cache directory (members
    ``cifar-100-binary/train.bin`` and ``test.bin``: records of a coarse label byte, a fine
    label byte, then the image)."""

    URL: ClassVar[str] = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
    SHA256: ClassVar[str | None] = None  # not verified here: recorded at first download
    NAMES: ClassVar[tuple[str, ...]] = tuple(_FINE.split())
    COARSE_NAMES: ClassVar[tuple[str, ...]] = tuple(_COARSE.split())

    def __init__(
        self,
        train: bool = True,
        transform: Transform | _Default | None = DEFAULT,
        target_transform: Transform | None = None,
        label_type: str = "fine",
    ) -> None:
        if label_type not in ("fine", "coarse"):
            raise ValueError(
                f"CIFAR100: label_type must be 'fine' (100 classes) or 'coarse' (20), got "
                f"{label_type!r}"
            )
        self.label_type = label_type
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        path = get_file(self.URL, sha256=self.SHA256)
        name = "train.bin" if self.train else "test.bin"
        records = _cifar_member(path, "cifar-100-binary", name, 2 + _IMAGE).reshape(-1, 2 + _IMAGE)
        self.label = records[:, 0 if self.label_type == "coarse" else 1].astype(np.int64)
        self.data = records[:, 2:].reshape(-1, 3, 32, 32)

    @classmethod
    def labels(cls, label_type: str = "fine") -> dict[int, str]:
        """Class index to name, of the ``'fine'`` or the ``'coarse'`` classes."""
        if label_type not in ("fine", "coarse"):
            raise ValueError(
                f"CIFAR100.labels: label_type must be 'fine' or 'coarse', got {label_type!r}"
            )
        return dict(enumerate(cls.NAMES if label_type == "fine" else cls.COARSE_NAMES))


def _cifar_member(path: Path, folder: str, name: str, record: int) -> Array:
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.getmember(f"{folder}/{name}")
            stream = archive.extractfile(member)
            if stream is None:
                raise KeyError(name)
            raw = stream.read()
    except KeyError:
        raise DataFormatError(
            f"{path}: no member {folder}/{name}; is it the binary version ({path.name} as "
            "the dataset's URL names it)?"
        ) from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a .tar.gz archive ({exc})") from None
    if len(raw) % record:
        raise DataFormatError(
            f"{path}: {name} holds {len(raw)} bytes, not a whole number of {record}-byte records"
        )
    return np.frombuffer(raw, np.uint8)
