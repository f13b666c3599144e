"""Signals are finite and match their textbook definitions."""

import numpy as np
import pytest
from scipy.special import softmax

from mia_lib import signals


def test_phi_matches_log_odds_and_is_finite_at_certainty():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 2, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0])
    p = softmax(logits.astype(np.float64), -1)
    py = np.take_along_axis(p, y[None, :, None, None].repeat(3, 0).repeat(2, 2), -1)[..., 0]
    np.testing.assert_allclose(signals.phi(logits, y), np.log(py) - np.log1p(-py), rtol=1e-9)
    sure = np.array([[200.0, 0.0, 0.0], [0.0, -300.0, 0.0]], dtype=np.float32)
    out = signals.phi(sure, np.array([0, 1]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [200 - np.log(2), -300 - np.log(2)])


def test_loss_entropy_and_friends():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4))
    y = np.array([0, 1, 2, 3, 0, 1])
    p = softmax(logits, -1)
    np.testing.assert_allclose(signals.loss(logits, y), -np.log(p[np.arange(6), y]))
    np.testing.assert_allclose(signals.entropy(logits), -(p * np.log(p)).sum(-1))
    mentr = []
    for i in range(6):
        s = -(1 - p[i, y[i]]) * np.log(p[i, y[i]])
        s += sum(-p[i, j] * np.log(1 - p[i, j]) for j in range(4) if j != y[i])
        mentr.append(s)
    np.testing.assert_allclose(signals.modified_entropy(logits, y), mentr, rtol=1e-9)
    np.testing.assert_allclose(
        signals.hinge(logits, y), logits[np.arange(6), y] - np.where(np.eye(4)[y] > 0, -np.inf, logits).max(1)
    )
    assert (signals.correct(logits, y) == (logits.argmax(1) == y)).all()


def test_modified_entropy_finite_at_certainty():
    assert np.isfinite(signals.modified_entropy(np.array([[500.0, 0.0, 0.0]]), np.array([1]))).all()


def test_label_shape_mismatch_raises():
    with pytest.raises(ValueError, match="do not match"):
        signals.phi(np.zeros((2, 3, 4)), np.zeros(5, dtype=int))
