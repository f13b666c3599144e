"""Privacy accounting for DP-SGD through Opacus's accountants (RDP, PRV): validation of privacy parameters,
ε(δ) of a run, the σ for a target ε, Opacus's sample-rate and batch-size conventions, and the :class:`DPSettings`
that fix a run's privacy."""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

ACCOUNTANTS = ("rdp", "prv")


def check_privacy(epsilon=None, delta=None, noise_multiplier=None, sample_rate=None) -> None:
    """Validate privacy parameters; raise one ValueError that lists every problem.

    Args: ``epsilon`` > 0 (``math.inf`` allowed: no noise), ``delta`` in (0, 1), ``noise_multiplier`` σ ≥ 0,
    ``sample_rate`` q in (0, 1]. Arguments left as None are not checked.
    """
    errors = []
    if epsilon is not None and not (epsilon > 0):
        errors.append(f"epsilon must be > 0 (math.inf for no noise), got {epsilon}")
    if delta is not None and not (0 < delta < 1):
        errors.append(f"delta must lie in (0, 1), got {delta}")
    if noise_multiplier is not None and not (noise_multiplier >= 0 and math.isfinite(noise_multiplier)):
        errors.append(f"noise multiplier sigma must be a finite number >= 0, got {noise_multiplier}")
    if sample_rate is not None and not (0 < sample_rate <= 1):
        errors.append(f"sample rate q must lie in (0, 1], got {sample_rate}")
    if errors:
        raise ValueError("Invalid privacy parameters: " + "; ".join(errors) + ".")


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """ε(δ) of ``steps`` Poisson-subsampled Gaussian steps (rate q, noise σ), from Opacus's accountant.

    Args:
        noise_multiplier: σ (noise std / clipping norm); 0 gives ε = inf.
        accountant: ``"rdp"`` (Rényi DP, Opacus's default α grid) or ``"prv"`` (privacy random variables).
    Returns:
        ε, an upper bound on the privacy loss of the training run at this δ.
    """
    from opacus.accountants import create_accountant

    check_privacy(delta=delta, noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {accountant!r}")
    if noise_multiplier == 0:
        return math.inf
    if steps == 0:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RDP: "optimal order is the largest alpha" at large ε
        return float(acc.get_epsilon(delta=delta))


def noise_multiplier_for(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "rdp"
) -> float:
    """Smallest σ (to Opacus's tolerance 0.01 in ε) whose run has ε(δ) ≤ ``target_epsilon``.

    Wraps ``opacus.accountants.utils.get_noise_multiplier``; ``target_epsilon = math.inf`` gives σ = 0.
    """
    from opacus.accountants.utils import get_noise_multiplier

    check_privacy(epsilon=target_epsilon, delta=delta, sample_rate=sample_rate)
    if math.isinf(target_epsilon):
        return 0.0
    if accountant == "rdp" and target_epsilon <= rdp_epsilon_floor(delta):
        raise ValueError(
            f"No noise multiplier reaches epsilon={target_epsilon} at delta={delta} under the rdp "
            f"accountant: even infinite noise gives epsilon {rdp_epsilon_floor(delta):.3f} with Opacus's "
            f"orders; raise epsilon or delta, or use accountant='prv'."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(
                get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=int(steps),
                    accountant=accountant,
                )
            )
        except ValueError as e:  # Opacus: "The privacy budget is too low."
            raise ValueError(
                f"No noise multiplier reaches epsilon={target_epsilon} at delta={delta} with q="
                f"{sample_rate:.4g} and {steps} steps under the {accountant} accountant ({e}); "
                f"raise epsilon or delta, or use the other accountant."
            ) from None


def rdp_epsilon_floor(delta: float) -> float:
    """The smallest ε Opacus's RDP accountant can certify at ``delta`` (zero RDP at its default orders)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = RDPAccountant.DEFAULT_ALPHAS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(get_privacy_spent(orders=orders, rdp=np.zeros(len(orders)), delta=delta)[0])


def opacus_sample_rate(n: int, batch_size: int) -> float:
    """Opacus's Poisson sample rate for a DataLoader of ``n`` examples in batches of ``batch_size``: 1/⌈n/B⌉."""
    return 1.0 / math.ceil(n / batch_size)


def expected_batch_size(n: int, sample_rate: float) -> int:
    """Opacus's divisor for ``loss_reduction="mean"``: ⌊n q⌋ (at least 1)."""
    return max(1, int(n * sample_rate))


@dataclass(frozen=True)
class DPSettings:
    """Everything that fixes a DP-SGD run's privacy: the mechanism (σ, q, steps, C) and its ε(δ).

    ``epsilon`` is the target given by the user; ``epsilon_rdp`` and ``epsilon_prv`` are what the two accountants
    give for (σ, q, steps) (σ was chosen with ``accountant``).
    """

    epsilon: float
    delta: float
    max_grad_norm: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    accountant: str
    epsilon_rdp: float
    epsilon_prv: float

    def to_dict(self) -> dict:
        """Plain dict (inf as the string "inf" so the JSON stays standard)."""
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


@functools.lru_cache(maxsize=256)
def settings(
    epsilon_target: float,
    delta: float,
    n_train: float,
    batch_size: int,
    epochs: int,
    max_grad_norm: float = 1.0,
    accountant: str = "rdp",
) -> DPSettings:
    """DP-SGD settings for a target ε: q from Opacus's convention, steps = epochs / q, σ from the accountant.

    Args:
        n_train: training-set size (for a pool: the mean IN-set size); batch_size: expected batch size.
    Returns:
        :class:`DPSettings`; the PRV ε is NaN when Opacus's PRV accountant cannot evaluate these parameters.
        Results are memoised (the σ search takes seconds).
    """
    check_privacy(epsilon=epsilon_target, delta=delta)
    if not (max_grad_norm > 0):
        raise ValueError(f"max_grad_norm (clipping norm C) must be > 0, got {max_grad_norm}")
    q = opacus_sample_rate(int(math.ceil(n_train)), batch_size)
    steps = int(epochs * round(1 / q))
    sigma = noise_multiplier_for(epsilon_target, delta, q, steps, accountant)
    eps = {}
    for acc in ACCOUNTANTS:
        try:
            eps[acc] = epsilon(sigma, q, steps, delta, acc)
        except (ValueError, RuntimeError):  # PRV refuses some (σ, q, steps) (Opacus issue #591)
            eps[acc] = math.nan
    return DPSettings(
        float(epsilon_target), float(delta), float(max_grad_norm), sigma, q, steps, accountant, eps["rdp"], eps["prv"]
    )
