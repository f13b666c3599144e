"""Data sources, mixtures and query views: shapes, determinism, the held-out property, errors, on-disk formats."""

import os
import pickle
import struct

import numpy as np
import pytest
import scipy.io
import torch

from mia_lib import data


def _image_set(X: torch.Tensor) -> set[bytes]:
    """Each image of [N, ...] as bytes, to compare images as sets."""
    return {x.numpy().tobytes() for x in X.contiguous()}


def _check_dataset(ds, n, shape, name=None):
    assert ds.X.shape == (n, *shape) and ds.X.dtype == torch.float32
    assert ds.y.shape == (n,) and ds.y.dtype == torch.int64
    assert ds.group.shape == (n,) and ds.group.dtype == torch.int8
    assert 0 <= float(ds.X.min()) and float(ds.X.max()) <= 1 and float(ds.X.max()) > 0.5
    assert len(ds) == n
    if name is not None:
        assert ds.name == name


# --------------------------------------------------------------------------------------------------------------
# Embedded sources


@pytest.mark.parametrize(
    "name, kwargs, n, shape",
    [
        ("digits", {}, 1797, (1, 8, 8)),
        ("mnist5k", {}, 5000, (1, 28, 28)),
        ("digits28", {}, 1797, (1, 28, 28)),
        ("fontdigits", {"n": 60}, 60, (1, 8, 8)),
        ("fontdigits", {"n": 60, "size": 28}, 60, (1, 28, 28)),
        ("fontdigits", {"n": 20, "size": 32}, 20, (1, 32, 32)),
        ("augmnist", {"n": 20}, 20, (1, 28, 28)),
    ],
)
def test_embedded_sources_load(name, kwargs, n, shape):
    ds = data.load(name, **kwargs)
    _check_dataset(ds, n, shape, name)
    assert ds.n_classes == 10 and not ds.flippable
    assert set(ds.y.tolist()) == set(range(10))
    assert (ds.group == 0).all()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("digits", {"n": 100}),
        ("mnist5k", {"n": 100}),
        ("fontdigits", {"n": 30}),
        ("fontdigits", {"n": 30, "size": 28}),
        ("augmnist", {"n": 10}),
    ],
)
def test_same_seed_gives_identical_tensors(name, kwargs):
    a, b = data.load(name, seed=3, **kwargs), data.load(name, seed=3, **kwargs)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, data.load(name, seed=4, **kwargs).X)


def test_fontdigits_recipes():
    X8, y = data.render_fontdigits(40, size=8, seed=0)
    assert torch.equal(y, torch.arange(40) % 10)
    assert torch.equal(X8 * 16, (X8 * 16).round())  # optdigits: block counts 0..16, divided by 16
    # ink close to load_digits' (about 4.9 of 16 on average)
    assert abs(float(X8.mean()) - float(data.load("digits").X.mean())) < 0.1
    X28, _ = data.render_fontdigits(40, size=28, seed=0)
    assert len(torch.unique(X28)) > 20  # grey levels, like MNIST
    assert (X28[..., :2, :] == 0).all() and (X28[..., :, -2:] == 0).all()  # a 20x20 box centred in 28x28
    X32, _ = data.render_fontdigits(40, size=32, seed=0)
    assert torch.equal(X32[..., 2:30, 2:30], X28)
    X16, _ = data.render_fontdigits(5, size=16, seed=0)
    assert X16.shape == (5, 1, 16, 16)


def test_subset_is_class_balanced_and_resizable():
    ds = data.load("digits", n=105, seed=1)
    counts = torch.bincount(ds.y, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 105
    assert data.load("digits", size=28, n=10).X.shape == (10, 1, 28, 28)
    sub = ds.subset(torch.tensor([4, 0]))
    assert len(sub) == 2 and torch.equal(sub.X[1], ds.X[0]) and sub.name == "digits"
    assert len(ds.subset(np.arange(5))) == 5


def test_digits28_is_digits_in_mnist_layout():
    ds = data.load("digits28")
    assert (ds.X[..., :4, :] == 0).all() and (ds.X[..., :, :4] == 0).all()
    assert torch.equal(ds.y, data.load("digits").y)
    assert torch.allclose(ds.X.amax(dim=(1, 2, 3)), torch.ones(len(ds)))


# --------------------------------------------------------------------------------------------------------------
# Mixtures


@pytest.mark.parametrize("under, n_under", [("fontdigits", 100), ("digits28", 100), ("augmnist", 30)])
def test_mixture_groups_labels_and_determinism(under, n_under):
    ds = data.mixture("mnist5k", under, n_under, n_over=400, seed=2)
    _check_dataset(ds, 400 + n_under, (1, 28, 28), f"mnist5k+{under}")
    assert (ds.group == 1).sum() == n_under and (ds.group == 0).sum() == 400
    assert ds.y.min() >= 0 and ds.y.max() <= 9 and ds.n_classes == 10
    assert not (ds.group[:n_under] == 1).all()  # shuffled, not stacked
    again = data.mixture("mnist5k", under, n_under, n_over=400, seed=2)
    assert torch.equal(ds.X, again.X) and torch.equal(ds.y, again.y) and torch.equal(ds.group, again.group)


def test_mixture_over_group_is_load_and_under_is_resized():
    ds = data.mixture("mnist5k", "digits", 50, n_over=200, seed=5)
    over = data.load("mnist5k", n=200, seed=5)
    assert _image_set(ds.X[ds.group == 0]) == _image_set(over.X)
    assert ds.X.shape == (250, 1, 28, 28)
    small = data.mixture("digits", "fontdigits", 30)
    assert small.X.shape == (1797 + 30, 1, 8, 8)  # default n_over: 4,000 or the whole (smaller) source


def test_augmnist_uses_only_images_held_out_of_the_over_group():
    mnist = data.load("mnist5k").X
    for n_over in (4000, 300):
        over_idx, held_idx = data.mnist5k_split(n_over, seed=1)
        assert len(over_idx) == n_over and len(np.intersect1d(over_idx, held_idx)) == 0
        assert len(over_idx) + len(held_idx) == 5000
        ds = data.mixture("mnist5k", "augmnist", 20, n_over=n_over, seed=1)
        over_images = _image_set(ds.X[ds.group == 0])
        assert over_images == _image_set(mnist[over_idx])
        assert not over_images & _image_set(mnist[held_idx])
    # alone, augmnist draws from what the default 4,000-image over group leaves out
    assert len(data.mnist5k_split(seed=1)[1]) == 1000


def test_mixture_errors():
    with pytest.raises(ValueError, match=r"n_under=1798 .*'digits28'.*1797"):
        data.mixture("mnist5k", "digits28", 1798)
    with pytest.raises(ValueError, match=r"n_under=1001 .*1000 mnist5k images held out"):
        data.mixture("mnist5k", "augmnist", 1001)
    with pytest.raises(ValueError, match="Unknown dataset 'fonts'"):
        data.mixture("mnist5k", "fonts", 10)
    with pytest.raises(ValueError, match="different sources"):
        data.mixture("digits", "digits", 10)


# --------------------------------------------------------------------------------------------------------------
# torchvision sources, from tiny files in torchvision's on-disk formats


def _write_idx(path, array: np.ndarray):
    """MNIST's idx format: big-endian magic (0, 0, dtype 0x08 = uint8, ndim), the dims, then the bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def _fake_mnist(root, n_train=30, n_test=20):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = images, labels
    return arrays


def _fake_cifar(root, folder, batches, label_key, meta_file, meta_key, n_classes, n=12):
    base = root / folder
    base.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for batch in batches:
        entry = {"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), label_key: list(np.arange(n) % n_classes)}
        with open(base / batch, "wb") as f:
            pickle.dump(entry, f)
        written[batch] = entry
    with open(base / meta_file, "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(n_classes)]}, f)
    return written


@pytest.fixture
def skip_md5(monkeypatch):
    """The fake files cannot match torchvision's md5 sums: in this test, only check that the files exist."""
    import torchvision.datasets.cifar
    import torchvision.datasets.svhn

    def exists(fpath, md5=None):
        return os.path.isfile(fpath)

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", exists)


def test_mnist_from_idx_files(tmp_path):
    arrays = _fake_mnist(tmp_path)
    ds = data.load("mnist", data_dir=str(tmp_path))
    _check_dataset(ds, 30, (1, 28, 28), "mnist")
    images, labels = arrays["train"]
    assert torch.equal(ds.X, torch.from_numpy(images).float().unsqueeze(1) / 255)
    assert torch.equal(ds.y, torch.from_numpy(labels))
    test = data.load("mnist", data_dir=str(tmp_path), split="test", n=10, size=8)
    _check_dataset(test, 10, (1, 8, 8))
    assert not test.flippable


def test_cifar10_and_cifar100_from_pickled_batches(tmp_path, skip_md5):
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = _fake_cifar(tmp_path, "cifar-10-batches-py", batches, "labels", "batches.meta", "label_names", 10)
    ds = data.load("cifar10", data_dir=str(tmp_path))
    _check_dataset(ds, 60, (3, 32, 32), "cifar10")
    assert ds.flippable and ds.n_classes == 10
    first = torch.from_numpy(written["data_batch_1"]["data"]).reshape(-1, 3, 32, 32).float() / 255
    assert torch.equal(ds.X[:12], first)
    test = data.load("cifar10", data_dir=str(tmp_path), split="test")
    assert len(test) == 12 and torch.equal(test.y, torch.arange(12) % 10)

    _fake_cifar(tmp_path, "cifar-100-python", ["train", "test"], "fine_labels", "meta", "fine_label_names", 100)
    ds100 = data.load("cifar100", data_dir=str(tmp_path), n=5)
    _check_dataset(ds100, 5, (3, 32, 32), "cifar100")
    assert ds100.n_classes == 100 and ds100.flippable


def test_svhn_from_mat_file(tmp_path, skip_md5):
    (tmp_path / "svhn").mkdir()
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (32, 32, 3, 15)).astype(np.uint8)
    y = (np.arange(15) % 10 + 1).astype(np.uint8).reshape(-1, 1)  # SVHN's labels are 1..10, with 10 for digit 0
    scipy.io.savemat(tmp_path / "svhn" / "train_32x32.mat", {"X": X, "y": y})
    ds = data.load("svhn", data_dir=str(tmp_path))
    _check_dataset(ds, 15, (3, 32, 32), "svhn")
    assert torch.equal(ds.y, torch.from_numpy(y[:, 0] % 10).long())
    assert torch.equal(ds.X[3], torch.from_numpy(X[..., 3]).permute(2, 0, 1).float() / 255)
    assert not ds.flippable


def test_channel_mismatch_in_mixture(tmp_path, skip_md5):
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    _fake_cifar(tmp_path, "cifar-10-batches-py", batches, "labels", "batches.meta", "label_names", 10)
    with pytest.raises(ValueError, match="Channel mismatch.*3 channel"):
        data.mixture("cifar10", "digits", 10, data_dir=str(tmp_path))


def test_torchvision_errors(tmp_path):
    with pytest.raises(ValueError, match="pass data_dir.*cifar-10-batches-py.*nothing is downloaded"):
        data.load("cifar10")
    with pytest.raises(ValueError, match=r"looked for .*MNIST.raw.train-images-idx3-ubyte.*nothing is downloaded"):
        data.load("mnist", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"looked for .*svhn.test_32x32.mat or .*test_32x32.mat"):
        data.load("svhn", data_dir=str(tmp_path), split="test")
    # files present but not the real ones: torchvision's md5 check fails, reported as a ValueError
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    _fake_cifar(tmp_path, "cifar-10-batches-py", batches, "labels", "batches.meta", "label_names", 10)
    with pytest.raises(ValueError, match="torchvision rejected them"):
        data.load("cifar10", data_dir=str(tmp_path))


def test_load_errors():
    with pytest.raises(ValueError, match="Unknown dataset 'mnist6k'; known datasets: digits, mnist5k"):
        data.load("mnist6k")
    with pytest.raises(ValueError, match="n=1800 is larger than 'digits'.*1797"):
        data.load("digits", n=1800)
    with pytest.raises(ValueError, match="n=1001 is larger than the 1000 held-out"):
        data.load("augmnist", n=1001)
    with pytest.raises(ValueError, match="single split"):
        data.load("digits", split="test")
    with pytest.raises(ValueError, match="n must be >= 1"):
        data.load("digits", n=0)


# --------------------------------------------------------------------------------------------------------------
# Query views


def test_query_views_order_and_shifts():
    X = torch.rand(3, 2, 5, 6, generator=torch.Generator().manual_seed(0))
    views = data.query_views(X, 10, flippable=True)
    assert views.shape == (10, 3, 2, 5, 6)
    assert torch.equal(views[0], X) and torch.equal(views[1], X.flip(-1))
    plus_x, minus_x, plus_y, minus_y = views[2:6]
    assert torch.equal(plus_x[..., 1:], X[..., :-1]) and (plus_x[..., 0] == 0).all()
    assert torch.equal(minus_x[..., :-1], X[..., 1:]) and (minus_x[..., -1] == 0).all()
    assert torch.equal(plus_y[..., 1:, :], X[..., :-1, :]) and (plus_y[..., 0, :] == 0).all()
    assert torch.equal(minus_y[..., :-1, :], X[..., 1:, :]) and (minus_y[..., -1, :] == 0).all()
    assert torch.equal(views[6][..., 1:], X.flip(-1)[..., :-1])  # flip, then +1x
    assert torch.equal(data.query_views(X, 3, flippable=True), views[:3])

    plain = data.query_views(X, 5, flippable=False)
    assert torch.equal(plain[0], X) and torch.equal(plain[1:], views[2:6])
    assert data.query_views(X, 1, flippable=False).shape == (1, 3, 2, 5, 6)


def test_query_views_rejects_bad_counts():
    X = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="between 1 and 5 .*non-flippable.*got 6"):
        data.query_views(X, 6, flippable=False)
    with pytest.raises(ValueError, match="between 1 and 10"):
        data.query_views(X, 11, flippable=True)
    with pytest.raises(ValueError, match="got 0"):
        data.query_views(X, 0, flippable=True)


def test_full_scale_mixtures_as_in_the_seed(tmp_path, skip_md5):
    """SVHN under MNIST becomes grayscale; CIFAR-100 under CIFAR-10 keeps only labels 0-9."""
    _fake_mnist(tmp_path)
    (tmp_path / "svhn").mkdir()
    X = np.random.default_rng(2).integers(0, 256, (32, 32, 3, 15)).astype(np.uint8)
    scipy.io.savemat(tmp_path / "svhn" / "train_32x32.mat", {"X": X, "y": (np.arange(15) % 10 + 1).reshape(-1, 1)})
    mix = data.mixture("mnist", "svhn", 5, n_over=20, data_dir=str(tmp_path))
    assert mix.X.shape[1:] == (1, 28, 28) and int((mix.group == 1).sum()) == 5
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    _fake_cifar(tmp_path, "cifar-10-batches-py", batches, "labels", "batches.meta", "label_names", 10)
    _fake_cifar(tmp_path, "cifar-100-python", ["train", "test"], "fine_labels", "meta", "fine_label_names", 100, n=300)
    mix = data.mixture("cifar10", "cifar100", 20, n_over=30, data_dir=str(tmp_path))
    assert mix.n_classes == 10 and int(mix.y.max()) < 10 and int((mix.group == 1).sum()) == 20
