"""Differential privacy: DP-SGD through Opacus, a vmapped DP-SGD pool trainer with Opacus's semantics, and the
accountant. One concept per module:

* :mod:`.accounting`: privacy parameters and Opacus's accountants (RDP, PRV): :func:`epsilon`,
  :func:`noise_multiplier_for`, :func:`settings` and the :class:`DPSettings` of a run;
* :mod:`.clipping`: per-sample clipping (:class:`PerSampleClipper`) and the vmapped trainer
  :func:`train_dp_vmapped`, which trains K models at once exactly as Opacus's ``DPOptimizer`` would;
* :mod:`.pools`: cached DP pools, :func:`load_or_train_dp_pool` (:func:`mia_lib.pool.load_or_train` with the DP
  trainer, keyed by :func:`dp_pool_key`);
* :mod:`.opacus_ref`: the Opacus reference trainer :func:`train_opacus` and the twin checks that compare a pool's
  models with Opacus-trained twins.

The limits (ε, δ)-DP puts on any attack (accuracy, TPR at an FPR, posterior) live in :mod:`mia_lib.theory`.
The public names of the four modules are re-exported here, so ``from mia_lib import dp; dp.epsilon(...)`` works.
"""

from . import accounting, clipping, opacus_ref, pools
from .accounting import (
    ACCOUNTANTS,
    DPSettings,
    check_privacy,
    epsilon,
    expected_batch_size,
    noise_multiplier_for,
    opacus_sample_rate,
    rdp_epsilon_floor,
    settings,
)
from .clipping import METHODS, PerSampleClipper, clipped_grad_sum, noise_seed, poisson_batches, train_dp_vmapped
from .opacus_ref import opacus_twin, opacus_twin_check, train_opacus
from .pools import TRAINER_VERSION, dp_pool_key, dp_settings_for, load_or_train_dp_pool

__all__ = [
    "accounting",
    "clipping",
    "opacus_ref",
    "pools",
    "ACCOUNTANTS",
    "DPSettings",
    "check_privacy",
    "epsilon",
    "expected_batch_size",
    "noise_multiplier_for",
    "opacus_sample_rate",
    "rdp_epsilon_floor",
    "settings",
    "METHODS",
    "PerSampleClipper",
    "clipped_grad_sum",
    "noise_seed",
    "poisson_batches",
    "train_dp_vmapped",
    "opacus_twin",
    "opacus_twin_check",
    "train_opacus",
    "TRAINER_VERSION",
    "dp_pool_key",
    "dp_settings_for",
    "load_or_train_dp_pool",
]

from . import audit  # noqa: E402  (chapter 9: the one-run audit, Gaussian DP and mislabeled canaries)

__all__ += ["audit"]
