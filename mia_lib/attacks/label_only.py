"""Label-only attacks: the attacker sees the target's predicted label for inputs of its choice, nothing else.

Everything here talks to a target through a **label oracle**: a callable ``x [M, C, H, W] -> labels int64 [M]``.
:class:`LabelOracle` wraps a model so that only the argmax leaves it and counts the inputs it answered; the attacks
accept any callable, so a test can hand them a function that never computes a logit at all.

* :func:`augmentation_attack` (Choquette-Choo et al. 2021, "data augmentation" attack): the share of augmented
  views of an example (:func:`mia_lib.data.query_views`: the image, one-pixel shifts, flips where labels survive
  them) that the target still classifies correctly. A model that trained on the example tends to be right on its
  neighbourhood too.
* :func:`boundary_distance` (Choquette-Choo et al. 2021's boundary distance; cf. *Towards the Infeasibility of
  Membership Inference on Deep Models*): the distance from an example to the target's decision boundary, estimated
  with a bounded number of label queries by bisection along random directions. A correctly classified example gets
  the smallest radius, over ``n_directions`` random unit directions, at which its label flips (searched up to
  ``r_max``, resolved to ``r_max / 2**n_steps``); a misclassified one gets 0. Members sit farther from the
  boundary. It is cheaper and cruder than HopSkipJump (no gradient estimation): an upper bound of the distance along
  a few directions rather than the minimum over all of them.

The book simulates query access with the pool's saved parameters (:func:`pool_oracles`): the attacker never sees
them, only the labels the oracle returns for the images it submits.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import data, train


class LabelOracle:
    """Query access to one classifier that answers with predicted labels only, counting the inputs it answers.

    Args:
        predict: ``x [M, C, H, W] -> scores [M, n_classes]`` (e.g. an ``nn.Module`` in eval mode); kept private:
            callers get labels only. chunk: inputs per forward pass. device: where ``predict`` runs (inputs are
            moved there, labels come back on the CPU).

    Attributes:
        queries: inputs answered so far (every row of every call counts once).

    Used in chapter 3.
    """

    def __init__(self, predict: Callable, chunk: int = 4096, device: torch.device | str | None = None):
        self._predict = predict
        self._chunk = int(chunk)
        self._device = torch.device(device or "cpu")
        self.queries = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted labels int64 [M] of the inputs x [M, C, H, W]."""
        x = torch.as_tensor(x, dtype=torch.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, x.shape[0], self._chunk):
                out.append(self._predict(x[i : i + self._chunk].to(self._device)).argmax(-1).cpu())
        self.queries += int(x.shape[0])
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def pool_oracles(pool, target_ids) -> list[LabelOracle]:
    """One :class:`LabelOracle` per target model of a pool trained with ``save_params=True``.

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool` with ``params``. target_ids: [T] model ids.
    Returns:
        [T] oracles, each answering with model ``target_ids[i]``'s predicted labels (eval mode, on the pool's
        device).
    Raises:
        ValueError: the pool kept no parameters.

    Used in chapter 3.
    """
    if pool.params is None:
        raise ValueError(
            "label-only attacks that submit new inputs need query access to the target models; the book simulates "
            "it with the pool's parameters: train the pool with Experiment(..., save_params=True)."
        )
    dev = train.device(pool.cfg.device)
    return [LabelOracle(pool.model(int(t)).to(dev), device=dev) for t in np.asarray(target_ids).ravel()]


def augmentation_attack(
    oracle: Callable, X: torch.Tensor, y, n_views: int = 5, flippable: bool = False, chunk: int = 1024
) -> np.ndarray:
    """Choquette-Choo et al.'s augmentation attack: the share of query views still classified correctly.

    Args:
        oracle: ``x [M, C, H, W] -> labels int64 [M]`` (labels only). X: float [N, C, H, W] the examples; y: [N]
            their labels. n_views: views per example, from :func:`mia_lib.data.query_views` (view 0 is the image;
            >= 2 for the attack to see more than correctness). flippable: whether horizontal flips keep labels.
        chunk: examples per oracle call (each call submits ``chunk × n_views`` images).
    Returns:
        scores float64 [N] in [0, 1], higher = member. Exactly ``N × n_views`` queries.

    Used in chapter 3.
    """
    y = torch.as_tensor(np.asarray(y)).long()
    out = np.empty(len(y))
    for i in range(0, len(y), chunk):
        v = data.query_views(X[i : i + chunk], n_views, flippable)  # [A, c, C, H, W]
        a, c = v.shape[:2]
        labels = torch.as_tensor(oracle(v.flatten(0, 1))).view(a, c)
        out[i : i + c] = (labels == y[i : i + c]).double().mean(0).numpy()
    return out


def augmentation_from_labels(labels: np.ndarray, y) -> np.ndarray:
    """:func:`augmentation_attack` from labels already collected on the query views (a pool's cached views).

    Args:
        labels: int [T, N, A] the targets' predicted labels on A views. y: [N] true labels.
    Returns:
        scores float64 [T, N]: the share of the A views classified correctly.

    Used in chapter 3.
    """
    labels = np.asarray(labels)
    return (labels == np.asarray(y)[None, :, None]).mean(-1).astype(np.float64)


def n_bisection_steps(n_directions: int, max_queries: int) -> int:
    """Bisection steps per direction that :func:`boundary_distance` affords within ``max_queries`` per example:
    one query for the example itself, then per direction one at ``r_max`` and one per step.

    Raises:
        ValueError: a budget that leaves less than one step per direction. Chapter 3.
    """
    if n_directions < 1:
        raise ValueError(f"n_directions must be >= 1, got {n_directions}")
    steps = (max_queries - 1) // n_directions - 1
    if steps < 1:
        raise ValueError(
            f"a budget of {max_queries} queries per example cannot afford one bisection step along "
            f"{n_directions} directions; it needs at least {1 + 2 * n_directions}"
        )
    return steps


def boundary_distance(
    oracle: Callable,
    X: torch.Tensor,
    y,
    n_directions: int = 4,
    max_queries: int = 25,
    r_max: float | None = None,
    max_rms: float = 0.3,
    clip: tuple[float, float] | None = (0.0, 1.0),
    seed: int = 0,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the decision boundary from label queries only: bisection along random directions.

    Per example: one query at x; if the label is wrong, the distance is 0. Otherwise, for each of ``n_directions``
    random unit directions u (Gaussian, normalized; drawn from ``seed``), one query at x + r_max·u: a label that
    survives means the boundary is beyond ``r_max`` that way (censored at ``r_max``), a flip starts a bisection of
    [0, r_max] with :func:`n_bisection_steps` more queries. The distance is the smallest radius known to flip the
    label, over the directions. Queries never exceed ``max_queries`` per example.

    Args:
        oracle: ``x [M, C, H, W] -> labels int64 [M]`` (labels only). X: float [N, C, H, W]; y: [N] labels.
        n_directions: random directions per example. max_queries: label queries allowed per example.
        r_max: largest radius searched (L2, in input units); default ``max_rms × sqrt(C·H·W)``, i.e. a
            perturbation of root-mean-square ``max_rms`` per pixel. clip: the valid input range every query is
            clipped to (None: no clipping). seed: seed of the directions. chunk: examples per round of queries.
    Returns:
        (distance float64 [N], higher = member; queries int64 [N], the label queries each example used).

    Used in chapter 3.
    """
    y = torch.as_tensor(np.asarray(y)).long()
    n, shape = len(y), tuple(X.shape[1:])
    dim = int(np.prod(shape))
    steps = n_bisection_steps(n_directions, max_queries)
    r_max = float(max_rms * np.sqrt(dim)) if r_max is None else float(r_max)
    gen = torch.Generator().manual_seed(int(seed))
    distance, queries = np.zeros(n), np.zeros(n, dtype=np.int64)
    for i in range(0, n, chunk):
        x = torch.as_tensor(X[i : i + chunk], dtype=torch.float32).flatten(1)
        yc, c = y[i : i + chunk], x.shape[0]
        u = torch.randn(c, n_directions, dim, generator=gen)
        u /= u.norm(dim=-1, keepdim=True)
        used = np.ones(c, dtype=np.int64)
        right = torch.as_tensor(oracle(x.view(c, *shape))) == yc

        def same_label(radius, rows, cols):
            z = x[rows] + radius[:, None] * u[rows, cols]
            z = z if clip is None else z.clamp(*clip)
            used[:] += np.bincount(rows.numpy(), minlength=c)
            return torch.as_tensor(oracle(z.view(-1, *shape))) == yc[rows]

        lo = torch.zeros(c, n_directions)
        hi = torch.full((c, n_directions), r_max)
        rows, cols = torch.nonzero(right[:, None].expand(c, n_directions), as_tuple=True)
        flipped = ~same_label(hi[rows, cols], rows, cols)
        rows, cols = rows[flipped], cols[flipped]
        for _ in range(steps):
            if rows.numel() == 0:
                break
            mid = (lo[rows, cols] + hi[rows, cols]) / 2
            same = same_label(mid, rows, cols)
            lo[rows[same], cols[same]] = mid[same]
            hi[rows[~same], cols[~same]] = mid[~same]
        d = hi.min(1).values.double()
        d[~right] = 0.0
        distance[i : i + c], queries[i : i + c] = d.numpy(), used
    return distance, queries


def augmentation_scores(pool, target_ids, n_views: int = 5, chunk: int = 1024) -> np.ndarray:
    """:func:`augmentation_attack` on target models of a pool: through :func:`pool_oracles` when the pool kept its
    parameters, else from the labels of its cached query views (``n_queries`` > 1; ``n_views`` is then ignored).

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool`. target_ids: [T]. n_views: views per example when querying.
    Returns:
        scores float64 [T, N], higher = member.
    Raises:
        ValueError: neither parameters nor more than one cached view.

    Used in chapter 3.
    """
    targets = np.asarray(target_ids, dtype=np.int64).ravel()
    if pool.params is not None:
        X, y = pool.dataset.X, pool.y
        flip = pool.dataset.flippable
        return np.stack([augmentation_attack(o, X, y, n_views, flip, chunk) for o in pool_oracles(pool, targets)])
    if pool.logits.shape[2] < 2:
        raise ValueError(views_needed(pool))
    return augmentation_from_labels(pool.logits[targets].argmax(-1), pool.y)


def boundary_scores(pool, target_ids, **options) -> np.ndarray:
    """:func:`boundary_distance` for target models of a pool trained with ``save_params=True``.

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool` with parameters. target_ids: [T]. options: passed to
            :func:`boundary_distance` (``n_directions``, ``max_queries``, ``max_rms``, ``seed``, ...); the same
            random directions for every target.
    Returns:
        scores float64 [T, N], higher = member; at most ``max_queries`` label queries per (target, example).

    Used in chapter 3.
    """
    X, y = pool.dataset.X, pool.y
    return np.stack([boundary_distance(o, X, y, **options)[0] for o in pool_oracles(pool, target_ids)])


def views_needed(pool) -> str | None:
    """Why :func:`augmentation_scores` cannot run on a pool (no parameters and a single cached view), else None.
    Chapter 3 (the zoo's checks)."""
    if pool.params is not None or pool.logits.shape[2] > 1:
        return None
    return (
        "attack 'label_only_aug' needs query views: the pool has one cached view (n_queries=1) and no parameters to "
        "query the targets with; train it with Experiment(..., n_queries=5) or save_params=True."
    )


def params_needed(pool) -> str | None:
    """Why :func:`boundary_scores` cannot run on a pool (no parameters), else None. Chapter 3 (the zoo's checks)."""
    if pool.params is not None:
        return None
    return (
        "attack 'label_only_boundary' submits new inputs to the targets, simulated with the pool's parameters; "
        "train the pool with Experiment(..., save_params=True)."
    )
