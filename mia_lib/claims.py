"""Verdicts that can fail: every "supported / not supported / inconclusive" in the book comes from here.

A claim is tested on a statistic with a confidence interval, almost always the *paired* bootstrap interval of a
difference (:func:`mia_lib.metrics.bootstrap_diff`: both sides resampled on the same examples), never the overlap
of two marginal intervals. Three outcomes:

* **supported**: the interval lies on the claim's side (beyond the stated margin);
* **not supported**: the interval lies on the other side: the data speak against the claim;
* **inconclusive**: the interval straddles the line, or there are too few samples to decide.

Claims of the form "X is about as strong as Y" need a stated ``margin``: they are supported only when the whole
interval of the difference lies inside ±margin (:func:`equivalent`); "no detectable difference" is never support.
Ties are ties: :func:`co_best` names every attack not detectably worse than the best.

Each chapter wraps its verdicts in :func:`record` (claim, source, setting, chapter) and saves them under ``"claims"``
in its results file; the claims ledger page collects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .metrics import Interval

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test: ``verdict`` in :data:`VERDICTS`, the ``statistic`` it rests on (in words), its
    ``value`` and ``ci`` (lo, hi), the ``margin`` or target it was held against and the sample size ``n``."""

    verdict: str
    statistic: str
    value: float
    ci: tuple[float, float]
    margin: float | None = None
    n: int | None = None

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED

    def word(self, yes: str = "supports", no: str = "does not support", unsure: str = "is inconclusive on") -> str:
        """The verdict as a verb phrase for prose: "This run {word} the claim"."""
        return {SUPPORTED: yes, NOT_SUPPORTED: no, INCONCLUSIVE: unsure}[self.verdict]

    def text(self, fmt: str = "{:.3f}") -> str:
        """``"supported: 0.041 [0.020, 0.063]"``."""
        return f"{self.verdict}: {Interval(self.value, *self.ci).text(fmt)}"

    def as_dict(self) -> dict:
        """Plain fields for a results file (NaN stays NaN here; the results writer makes it ``null``)."""
        return {
            "verdict": self.verdict,
            "statistic": self.statistic,
            "value": float(self.value),
            "ci": [float(self.ci[0]), float(self.ci[1])],
            "margin": self.margin,
            "n": self.n,
        }


def _verdict(kind: str, stat: Interval, statistic: str, margin, n) -> Verdict:
    return Verdict(
        kind, statistic, float(stat.value), (float(stat.lo), float(stat.hi)), margin, None if n is None else int(n)
    )


def _undecidable(stat: Interval, n, min_n) -> bool:
    if not (np.isfinite(stat.value) and np.isfinite(stat.lo) and np.isfinite(stat.hi)):
        return True
    return n is not None and min_n is not None and n < min_n


def greater(
    diff: Interval, statistic: str, margin: float = 0.0, n: int | None = None, min_n: int | None = None
) -> Verdict:
    """The claim "A exceeds B by more than ``margin``", from the interval of the difference A − B.

    Supported when ``diff.lo > margin``; not supported when ``diff.hi <= margin`` (an exact tie, an interval of
    [0, 0], is not support); inconclusive otherwise, or when ``n < min_n``. Chapters 1, 2, 3, 6, 7.
    """
    if _undecidable(diff, n, min_n):
        return _verdict(INCONCLUSIVE, diff, statistic, margin, n)
    if diff.lo > margin:
        return _verdict(SUPPORTED, diff, statistic, margin, n)
    if diff.hi <= margin:
        return _verdict(NOT_SUPPORTED, diff, statistic, margin, n)
    return _verdict(INCONCLUSIVE, diff, statistic, margin, n)


def less(
    diff: Interval, statistic: str, margin: float = 0.0, n: int | None = None, min_n: int | None = None
) -> Verdict:
    """The claim "A is below B by more than ``margin``" (A − B < −margin): :func:`greater` mirrored."""
    mirrored = greater(Interval(-diff.value, -diff.hi, -diff.lo), statistic, margin, n, min_n)
    return _verdict(mirrored.verdict, diff, statistic, margin, n)


def compare(diff: Interval) -> str:
    """Describe A against B from the interval of A − B: "better", "worse" or "no detectable difference"."""
    if np.isfinite(diff.lo) and diff.lo > 0:
        return "better"
    if np.isfinite(diff.hi) and diff.hi < 0:
        return "worse"
    return "no detectable difference"


def equivalent(
    diff: Interval, margin: float, statistic: str, n: int | None = None, min_n: int | None = None
) -> Verdict:
    """The claim "A is about as strong as B" (|A − B| < ``margin``), an equivalence test on the interval of A − B.

    Supported when the whole interval lies inside (−margin, margin); not supported when it lies entirely outside
    (lo ≥ margin or hi ≤ −margin); inconclusive otherwise: a wide interval around 0 is *not* support. A margin that
    is not positive (e.g. 20% of an effect that is not there) leaves nothing to be equivalent within: inconclusive.
    Chapters 6, 7.
    """
    if not (np.isfinite(margin) and margin > 0) or _undecidable(diff, n, min_n):
        return _verdict(INCONCLUSIVE, diff, statistic, margin, n)
    if -margin < diff.lo and diff.hi < margin:
        return _verdict(SUPPORTED, diff, statistic, margin, n)
    if diff.lo >= margin or diff.hi <= -margin:
        return _verdict(NOT_SUPPORTED, diff, statistic, margin, n)
    return _verdict(INCONCLUSIVE, diff, statistic, margin, n)


def reaches(
    achieved: Interval,
    target: float,
    statistic: str,
    tolerance: float = 0.0,
    n: int | None = None,
    min_n: int | None = None,
) -> Verdict:
    """The claim "the achieved value reaches ``target``" (within ``tolerance``).

    Supported when ``achieved.lo >= target − tolerance``; not supported when ``achieved.hi < target − tolerance``;
    inconclusive otherwise (e.g. 0.75 [0.60, 0.91] against 0.9). Chapter 7 (precision calibration).
    """
    if _undecidable(achieved, n, min_n):
        return _verdict(INCONCLUSIVE, achieved, statistic, target, n)
    line = target - tolerance
    if achieved.lo >= line:
        return _verdict(SUPPORTED, achieved, statistic, target, n)
    if achieved.hi < line:
        return _verdict(NOT_SUPPORTED, achieved, statistic, target, n)
    return _verdict(INCONCLUSIVE, achieved, statistic, target, n)


def at_most(value: Interval, limit: float, statistic: str, n: int | None = None, min_n: int | None = None) -> Verdict:
    """The claim "the value stays at or below ``limit``" (e.g. the share of examples flagged against a theorem stays
    within the 5% a one-sided 5% test flags by chance). Supported when ``value.hi <= limit``; not supported when
    ``value.lo > limit``; inconclusive otherwise. Chapter 4."""
    if _undecidable(value, n, min_n):
        return _verdict(INCONCLUSIVE, value, statistic, limit, n)
    if value.hi <= limit:
        return _verdict(SUPPORTED, value, statistic, limit, n)
    if value.lo > limit:
        return _verdict(NOT_SUPPORTED, value, statistic, limit, n)
    return _verdict(INCONCLUSIVE, value, statistic, limit, n)


def all_of(verdicts: Iterable[Verdict], statistic: str) -> Verdict:
    """A claim that must hold in every case: supported when every case is, not supported when any case is not,
    inconclusive otherwise. Value and CI are those of the weakest case (smallest lower bound) among the cases that
    decide the verdict (a not-supported case when one is not supported), so the number shown is one that
    explains the verdict."""
    vs = list(verdicts)
    if not vs:
        raise ValueError("all_of needs at least one verdict")
    kinds = {v.verdict for v in vs}
    kind = SUPPORTED if kinds == {SUPPORTED} else NOT_SUPPORTED if NOT_SUPPORTED in kinds else INCONCLUSIVE
    deciding = [v for v in vs if v.verdict == kind]
    weakest = min(deciding, key=lambda v: v.ci[0] if np.isfinite(v.ci[0]) else -np.inf)
    n = sum(v.n for v in vs) if all(v.n is not None for v in vs) else None
    return Verdict(kind, statistic, weakest.value, weakest.ci, weakest.margin, n)


def some_of(verdicts: Iterable[Verdict], statistic: str) -> Verdict:
    """A claim that must hold in at least one case and fail in none: supported when some case is supported and
    none is not supported, not supported when any case is not supported, inconclusive otherwise. Value and CI are
    those of the strongest case (largest lower bound)."""
    vs = list(verdicts)
    if not vs:
        raise ValueError("some_of needs at least one verdict")
    kinds = {v.verdict for v in vs}
    kind = NOT_SUPPORTED if NOT_SUPPORTED in kinds else SUPPORTED if SUPPORTED in kinds else INCONCLUSIVE
    strongest = max(vs, key=lambda v: v.ci[0] if np.isfinite(v.ci[0]) else -np.inf)
    return Verdict(kind, statistic, strongest.value, strongest.ci, strongest.margin, strongest.n)


def holds(condition: bool, statistic: str, value: float, n: int | None = None) -> Verdict:
    """A check with no sampling interval of its own (e.g. a 95% lower confidence bound against a theorem's upper
    bound, or a per-example test against the error rate it allows): supported when ``condition`` holds, else not
    supported. ``value`` is the number the check compared. Chapters 4, 6."""
    return Verdict(
        SUPPORTED if condition else NOT_SUPPORTED,
        statistic,
        float(value),
        (float(value), float(value)),
        None,
        None if n is None else int(n),
    )


def tally(verdicts: Iterable[Verdict]) -> int:
    """How many of ``verdicts`` are supported. Chapter 3 (cells of a claim)."""
    return sum(v.supported for v in verdicts)


def co_best(diffs_to_best: dict[str, Interval]) -> list[str]:
    """The attacks tied for best: every name whose difference to the best (name − best, the best itself with
    Interval(0, 0, 0)) is not detectably below zero, i.e. ``hi >= 0``. Chapter 3."""
    return [name for name, d in diffs_to_best.items() if not (np.isfinite(d.hi) and d.hi < 0)]


def record(claim: str, source: str, verdict: Verdict, setting: str, chapter: str) -> dict:
    """One row of the claims ledger: the claim in words, where it comes from (paper and section), the verdict with
    its statistic and CI, the setting it was tested in and the chapter (notebook stem) that tested it."""
    if verdict.verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict.verdict!r}")
    return {"claim": claim, "source": source, **verdict.as_dict(), "setting": setting, "chapter": chapter}
