"""Per-example calibrated loss: Sablayrolles et al. (2019) and Watson et al. (2022).

A global loss threshold treats a hard example (high loss even when trained on) like an easy one. Calibration
subtracts a per-example offset estimated from shadow models, so the score says how much lower the target's loss is
than what is typical *for this example*:

* ``reference="both"`` (Sablayrolles et al.'s per-example threshold): offset = (μ_in + μ_out) / 2, the midpoint of
  the mean shadow losses with and without the example;
* ``reference="out"`` (Watson et al.'s difficulty calibration, offline): offset = μ_out.

score = offset − loss_t (higher = member). Means are leave-target-out averages (TFP's ``compute_score_offset``
uses medians; averages keep this O(K·N) through :func:`mia_lib.attacks.lira.loo_moments`).
"""

from __future__ import annotations

import numpy as np

from .lira import loo_moments

REFERENCES = ("both", "out")


def calibrated_loss(
    loss: np.ndarray, keep: np.ndarray, target_ids=None, shadow_ids=None, reference: str = "both"
) -> np.ndarray:
    """Calibrated-loss scores of target models.

    Args:
        loss: float [K, N] per-model, per-example loss (:attr:`mia_lib.pool.ShadowPool.loss`).
        keep: bool [K, N] membership. target_ids / shadow_ids: as in :func:`mia_lib.attacks.lira.loo_moments`
            (a target is never part of its own offsets).
        reference: ``"both"`` (Sablayrolles: IN and OUT shadows) or ``"out"`` (Watson: OUT shadows only).
    Returns:
        scores float64 [T, N] = offset − loss_t, higher = member.
    Raises:
        ValueError: unknown reference, or an example without IN (``"both"``) or OUT shadow models.
    """
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    m = loo_moments(np.asarray(loss, dtype=np.float64), keep, target_ids, shadow_ids)
    sides = ("in", "out") if reference == "both" else ("out",)
    for side in sides:
        least = int(m[f"n_{side}"].min())
        if least < 1:
            raise ValueError(
                f"calibrated loss ({reference}) needs at least 1 {side.upper()} shadow model per "
                f"example after leaving the target out; some example has none (use more shadow models)."
            )
    offset = 0.5 * (m["mean_in"] + m["mean_out"]) if reference == "both" else m["mean_out"]
    return (offset - m["x"])[..., 0]
