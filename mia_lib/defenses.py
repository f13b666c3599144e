"""What a defense buys: every recipe's utility, its average-case and its low-FPR exposure on the same examples, with
paired bootstrap intervals, and the lecture's claims about defenses as verdicts (chapter 8).

A *recipe* is one pool: the undefended recipe, a training-time defense of :mod:`mia_lib.regularization`, weight
decay, early stopping, or DP-SGD (:mod:`mia_lib.dp`). Every recipe is measured on the same N examples and the same
target models (pool indices), so one bootstrap draw of examples scores every recipe and every difference between
recipes (:func:`mia_lib.metrics.paired_bootstrap`):

* utility: train and test accuracy over all K models (each example's IN and OUT models), the generalization gap;
* the average-case view: the lecture's baseline attack (member iff classified correctly) and the loss attack,
  balanced accuracy at their best threshold (0.5 + advantage/2) and AUROC;
* the high-confidence view: online LiRA, AUROC and TPR at a low FPR, on all examples and on the most memorized
  ones (chosen once, on shadow models that are never attacked);
* mean Feldman–Zhang memorization of the recipe's own pool, over all examples (with each example IN for half of
  the models this is the generalization gap again, seen example by example) and over the most memorized ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import claims, data, memorization, metrics
from .attacks import baseline, lira, threshold

#: The measures of every recipe, in the order of the chapter's table.
MEASURES = (
    "train_acc",
    "test_acc",
    "gen_gap",
    "baseline_bal_acc",
    "loss_bal_acc",
    "loss_auroc",
    "lira_bal_acc",
    "lira_auroc",
    "lira_tpr",
    "lira_tpr_top_mem",
    "mem_mean",
    "mem_top_mean",
)


@dataclass
class Exposure:
    """One recipe's pool, reduced to what the measures need, on the examples of the comparison.

    Attributes:
        keep, correct: bool [K, N]; phi: float64 [K, N, A] (:func:`mia_lib.signals.phi`); loss: float64 [K, N].
    """

    keep: np.ndarray
    correct: np.ndarray
    phi: np.ndarray
    loss: np.ndarray

    @classmethod
    def of(cls, pool, cols=None) -> "Exposure":
        """From a :class:`mia_lib.pool.ShadowPool`, optionally on the example columns ``cols`` only (int [N'])."""
        pick = slice(None) if cols is None else np.asarray(cols, dtype=np.int64)
        return cls(pool.keep[:, pick], pool.correct[:, pick], pool.phi[:, pick], pool.loss[:, pick])


class _Measured:
    """The per-example counts and the sorted attacks of one recipe: its measures on any bootstrap weights."""

    def __init__(self, e: Exposure, targets: np.ndarray, top: np.ndarray, level: float):
        keep, ok = e.keep, e.correct
        self.c_in, self.n_in = (ok & keep).sum(0), keep.sum(0)
        self.c_out, self.n_out = (ok & ~keep).sum(0), (~keep).sum(0)
        self.mem = memorization.memorization(ok, keep)
        member = keep[targets]
        scores = lira.lira_scores(e.phi, keep, target_ids=targets, variants=["online"])["online"]
        self.attacks = {
            "baseline": metrics.WeightedAttack(baseline.correctness_attack(ok, targets), member),
            "loss": metrics.WeightedAttack(threshold.loss_attack(e.loss, targets), member),
            "lira": metrics.WeightedAttack(scores, member),
            "lira_top": metrics.WeightedAttack(scores, member, top),
        }
        self.scores, self.member, self.tpr = scores, member, metrics.level_name(level)
        self.top = np.asarray(top, dtype=np.float64)

    def __call__(self, w) -> dict:
        w = np.ones(self.c_in.size) if w is None else np.asarray(w, dtype=np.float64)
        train_acc, test_acc = w @ self.c_in / (w @ self.n_in), w @ self.c_out / (w @ self.n_out)
        m = {a: att.measures(w) for a, att in self.attacks.items()}
        return {
            "train_acc": train_acc,
            "test_acc": test_acc,
            "gen_gap": train_acc - test_acc,
            "baseline_bal_acc": 0.5 + m["baseline"]["advantage"] / 2,
            "loss_bal_acc": 0.5 + m["loss"]["advantage"] / 2,
            "loss_auroc": m["loss"]["auroc"],
            "lira_bal_acc": 0.5 + m["lira"]["advantage"] / 2,
            "lira_auroc": m["lira"]["auroc"],
            "lira_tpr": m["lira"][self.tpr],
            "lira_tpr_top_mem": m["lira_top"][self.tpr],
            "mem_mean": w @ self.mem / w.sum(),
            "mem_top_mean": (w * self.top) @ self.mem / (w @ self.top),
        }


def _rho(values: dict, x: str, y: str) -> float:
    xs, ys = [v[x] for v in values.values()], [v[y] for v in values.values()]
    if len(xs) < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0 or not np.all(np.isfinite(xs + ys)):
        return np.nan
    return float(stats.spearmanr(xs, ys).statistic)


def compare(
    recipes: dict[str, Exposure],
    targets,
    top,
    undefended: str,
    *,
    level: float = 0.001,
    pairs: dict[str, tuple[str, str]] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """Every recipe's :data:`MEASURES` and their differences, with one paired bootstrap over the examples.

    Args:
        recipes: {name: :class:`Exposure`}, all on the same N examples (same columns, same meaning).
        targets: int [T] pool indices of the attacked models (their shadow statistics leave them out).
        top: bool [N] the most memorized examples (chosen on models that are not attacked).
        undefended: the recipe every other is compared against.
        level: the low FPR of ``lira_tpr``. pairs: more named differences {name: (recipe a, recipe b)}, a − b of
            every measure.
    Returns:
        {"table": {recipe: {measure: Interval}}, "vs_undefended": {recipe: {measure: Interval of recipe −
        undefended}}, "pairs": {name: {measure: Interval}}, "rho_gap_loss": Interval of Spearman's ρ across
        recipes between the generalization gap and the loss attack's balanced accuracy, "rho_gap_lira_top":
        the same with LiRA's TPR on the most memorized, "scores": {recipe: (LiRA scores [T, N], member [T, N])}}.
    """
    targets = np.asarray(targets, dtype=np.int64)
    shapes = {name: e.keep.shape[1] for name, e in recipes.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"every recipe must be measured on the same examples, got N = {shapes}")
    if undefended not in recipes:
        raise ValueError(f"the undefended recipe {undefended!r} is not among {list(recipes)}")
    measured = {name: _Measured(e, targets, np.asarray(top), level) for name, e in recipes.items()}
    pairs = {f"{r} − {undefended}": (r, undefended) for r in recipes if r != undefended} | dict(pairs or {})

    def statistic(w):
        values = {name: f(w) for name, f in measured.items()}
        out = {(name, k): v for name, d in values.items() for k, v in d.items()}
        for pname, (a, b) in pairs.items():
            out.update({(pname, k): values[a][k] - values[b][k] for k in MEASURES})
        out[("rho", "gap_loss")] = _rho(values, "gen_gap", "loss_bal_acc")
        out[("rho", "gap_lira_top")] = _rho(values, "gen_gap", "lira_tpr_top_mem")
        return out

    n = next(iter(shapes.values()))
    ci = metrics.paired_bootstrap(statistic, n, n_boot, seed=seed)
    table = {name: {k: ci[(name, k)] for k in MEASURES} for name in recipes}
    diffs = {pname: {k: ci[(pname, k)] for k in MEASURES} for pname in pairs}
    return {
        "table": table,
        "vs_undefended": {a: diffs[p] for p, (a, b) in pairs.items() if b == undefended},
        "pairs": diffs,
        "rho_gap_loss": ci[("rho", "gap_loss")],
        "rho_gap_lira_top": ci[("rho", "gap_lira_top")],
        "scores": {name: (f.scores, f.member) for name, f in measured.items()},
    }


def closes_gap(result: dict, undefended: str, recipes, share: float = 0.5) -> dict[str, claims.Verdict]:
    """Which defenses close the generalization gap: recipe − undefended gap below −``share`` × the undefended gap
    (:func:`mia_lib.claims.less`; supported = it removes more than that share of the gap)."""
    gap = result["table"][undefended]["gen_gap"].value
    return {
        r: claims.less(result["vs_undefended"][r]["gen_gap"], f"generalization gap, {r} − {undefended}", share * gap)
        for r in recipes
    }


def protects_top(
    result: dict, undefended: str, recipes, share: float = 0.5, level: float = 0.001
) -> dict[str, claims.Verdict]:
    """Which defenses protect the most memorized examples at the low FPR: recipe − undefended LiRA TPR on them below
    −``share`` × the undefended TPR (supported = the TPR falls by more than that share)."""
    tpr = result["table"][undefended]["lira_tpr_top_mem"].value
    statistic = f"LiRA TPR at {level:.1%} FPR on the most memorized, {{}} − {undefended}"
    return {
        r: claims.less(result["vs_undefended"][r]["lira_tpr_top_mem"], statistic.format(r), share * tpr)
        for r in recipes
    }


def open_question(result: dict, undefended: str, candidates, share: float = 0.5, level: float = 0.001) -> dict:
    """The lecture's open question on this data: does a defense that closes the generalization gap (removes more
    than ``share`` of it, :func:`closes_gap`) also protect the most memorized examples at ``level`` FPR (cuts
    LiRA's TPR on them by more than ``share``, :func:`protects_top`)?

    Returns:
        {"closes": {recipe: Verdict}, "protects": {recipe: Verdict}, "closing": [recipes that close the gap],
        "verdict": all of ``protects`` over the closing recipes, shown with the weakest of them; inconclusive when
        no candidate closes the gap (shown with the gap difference of the candidate nearest to closing it)}.
    """
    closes = closes_gap(result, undefended, candidates, share)
    protects = protects_top(result, undefended, candidates, share, level)
    closing = [r for r, v in closes.items() if v.verdict == claims.SUPPORTED]
    statistic = f"LiRA TPR at {level:.1%} FPR on the most memorized, {{}} − {undefended}"
    if closing:
        kind = claims.all_of([protects[r] for r in closing], "").verdict
        # the weakest case of a "less" claim is the one with the highest upper bound
        weakest = max(closing, key=lambda r: protects[r].ci[1])
        v = protects[weakest]
        verdict = claims.Verdict(
            kind, statistic.format(f"{weakest} (the weakest gap-closing defense)"), v.value, v.ci, v.margin, v.n
        )
    else:  # nothing to test: show how close the nearest candidate came to closing the gap
        nearest = min(candidates, key=lambda r: closes[r].value)
        v = closes[nearest]
        verdict = claims.Verdict(
            claims.INCONCLUSIVE,
            f"generalization gap, {nearest} (the nearest) − {undefended}: no defense closes the gap",
            v.value,
            v.ci,
            v.margin,
            v.n,
        )
    return {"closes": closes, "protects": protects, "closing": closing, "verdict": verdict}


def frame(intervals: dict) -> pd.DataFrame:
    """{row: {measure: Interval}} (``compare``'s ``table``, ``vs_undefended`` or ``pairs``) as a DataFrame with a
    column per measure (the value) and ``<measure>_ci`` (the Interval), for :func:`mia_lib.book.report.ci_table`.
    Chapter 8."""
    rows = {
        name: {**{k: iv.value for k, iv in d.items()}, **{f"{k}_ci": iv for k, iv in d.items()}}
        for name, d in intervals.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def shared_columns(inner, outer) -> np.ndarray:
    """Where the examples of experiment ``inner`` sit among those of ``outer`` (same single source, seed and data
    folder; ``inner.n_data`` ≤ ``outer.n_data``): int64 [N_inner] columns of ``outer``'s pools, so that a pool of
    ``outer`` is measured on ``inner``'s examples (chapter 8 measures chapter 6's DP pools on its own examples).
    Subsets of one source are nested (:func:`mia_lib.data.subset_indices`), so ``inner``'s examples are all there."""
    same = (inner.dataset, inner.seed, inner.data_dir) == (outer.dataset, outer.seed, outer.data_dir)
    if inner.under or outer.under or not same:
        raise ValueError("shared columns need two experiments on the same single source, seed and data folder")

    def indices(cfg):
        if cfg.n_data is None:
            return np.arange(data.subset_indices(cfg.dataset, 1, data_dir=cfg.data_dir)[1])
        return data.subset_indices(cfg.dataset, cfg.n_data, data_dir=cfg.data_dir, seed=cfg.seed)[0]

    a, b = indices(inner), indices(outer)
    cols = np.searchsorted(b, a)
    if cols.max(initial=-1) >= b.size or not np.array_equal(b[np.minimum(cols, b.size - 1)], a):
        raise ValueError(f"the examples of n_data={inner.n_data} are not all among those of n_data={outer.n_data}")
    return cols
