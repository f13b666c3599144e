"""Feldman–Zhang memorization and the privacy score on planted data."""

import numpy as np
import pytest

from mia_lib import memorization as M
from mia_lib import train


def test_memorization_definition_and_split_half():
    rng = np.random.default_rng(0)
    k, n = 64, 500
    keep = train.balanced_keep(k, n, 0)
    true_mem = rng.uniform(0, 0.8, n)
    p_out = rng.uniform(0.2, 1.0, n) * (1 - true_mem)
    correct = rng.random((k, n)) < np.where(keep, p_out + true_mem, p_out)
    mem = M.memorization(correct, keep)
    manual = correct[:, 7][keep[:, 7]].mean() - correct[:, 7][~keep[:, 7]].mean()
    assert np.isclose(mem[7], manual)
    assert np.corrcoef(mem, true_mem)[0, 1] > 0.8
    a, b, r = M.split_half(correct, keep)
    assert r > 0.5 and np.isclose(r, np.corrcoef(a, b)[0, 1])
    shuffled = M.split_half(rng.random((k, n)) < 0.5, keep)[2]
    assert abs(shuffled) < 0.15


def test_memorization_nan_without_out_models():
    keep = np.array([[True], [True]])
    assert np.isnan(M.memorization(np.array([[True], [False]]), keep)[0])


def test_privacy_score_grows_with_separation():
    rng = np.random.default_rng(1)
    keep = train.balanced_keep(32, 3, 0)
    phi = rng.normal(size=(32, 3, 1)) + keep[..., None] * np.array([0.0, 1.0, 4.0])[None, :, None]
    ps = M.privacy_score(phi, keep)
    assert ps[0] < ps[1] < ps[2]


def test_bins():
    b = M.bin_index(np.array([-0.5, 0.0, 0.01, 0.1, 0.2, 0.5, 0.51, 1.0, np.nan]))
    assert b.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, -1]
    assert len(M.MEM_BIN_LABELS) == len(M.MEM_BINS) - 1


def test_bin_subsets_and_top_fraction():
    mem = np.array([-0.2, 0.0, 0.05, 0.3, 0.9, np.nan, 0.9, 0.6, 0.1, 0.2])
    subsets = M.bin_subsets(mem)
    assert list(subsets) == list(M.MEM_BIN_LABELS)
    assert [int(s.sum()) for s in subsets.values()] == [2, 2, 2, 3]  # NaN falls in no bin
    top = M.top_fraction(mem, 0.2)
    assert list(np.flatnonzero(top)) == [4, 6]  # the two 0.9s, in index order
    assert list(M.most_memorized(mem, 4)) == [4, 6, 7, 3] and M.most_memorized(mem, 10)[-1] == 5  # NaN last
    assert M.top_fraction(mem[:3], 0.1).sum() == 1  # at least one
    with pytest.raises(ValueError):
        M.top_fraction(mem, 0.0)
