"""The attack zoo: run any list of attacks on a cached pool and tabulate them by group of examples.

:func:`attack_scores` turns a :class:`mia_lib.pool.ShadowPool` into scores [T, N] for each requested attack (all on
the same target models; a target is never part of its own shadow statistics); :func:`evaluate` measures them on
groups of examples with bootstrap CIs; :func:`run` does both and returns one tidy ``pandas`` table with a row per
(attack, group).

Attack names (:data:`ATTACKS`): ``loss`` (Yeom et al.), ``entropy`` / ``mentr`` (Song & Mittal), ``shokri`` /
``shokri_per_class`` (Shokri et al.), ``calibrated`` / ``calibrated_out`` (Sablayrolles et al. / Watson et al.),
``lira_<variant>`` for every :data:`mia_lib.attacks.lira.VARIANTS` (Carlini et al.), ``rmia`` / ``rmia_online``
(Zarifzadeh et al.), ``gradnorm`` (white-box; needs ``save_params=True``), ``baseline`` (the lecture's: member iff
classified correctly), the label-only ``label_only_aug`` (Choquette-Choo et al.: share of query views classified
correctly; needs ``save_params=True`` or ``n_queries`` > 1) and ``label_only_boundary`` (distance to the decision
boundary from a bounded number of label queries; needs ``save_params=True``, which the book uses to simulate query
access), and ``qmia`` (Bertran et al.: quantile regression on public non-members, no shadow models).

Point estimates come from :func:`mia_lib.metrics.summary`, 95% intervals from :func:`mia_lib.metrics.bootstrap_ci`
(resampling examples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .. import metrics
from . import baseline, calibrated, gradnorm, label_only, lira, qmia, rmia, shokri, threshold


@dataclass(frozen=True)
class Attack:
    """An entry of the zoo: display label, the IN/OUT shadow models it needs per example, and its scorer."""

    label: str
    needs_in: int
    needs_out: int
    white_box: bool
    score: Callable  # (pool, targets [T], shadows [S], **options) -> [T, N]
    requires: Callable | None = None  # pool -> why this pool cannot run the attack (None: it can)


def _lira(variant):
    return lambda p, t, s, **kw: lira.lira_scores(p.phi, p.keep, t, s, variants=[variant], **kw)[variant]


_LIRA_LABELS = {
    "online": "LiRA online",
    "online_fixed": "LiRA online, fixed var.",
    "offline": "LiRA offline",
    "offline_fixed": "LiRA offline, fixed var.",
    "offline_two_sided": "LiRA offline, two-sided",
    "offline_two_sided_fixed": "LiRA offline, two-sided, fixed var.",
}

ATTACKS: dict[str, Attack] = {
    "loss": Attack("Yeom et al. (loss)", 0, 0, False, lambda p, t, s, **kw: threshold.loss_attack(p.loss, t, **kw)),
    "entropy": Attack(
        "Song & Mittal (entropy)",
        1,
        1,
        False,
        lambda p, t, s, **kw: threshold.entropy_attack(p.logits, p.keep, p.y, t, s, False, **kw),
    ),
    "mentr": Attack(
        "Song & Mittal (modified entropy)",
        1,
        1,
        False,
        lambda p, t, s, **kw: threshold.entropy_attack(p.logits, p.keep, p.y, t, s, True, **kw),
    ),
    "shokri": Attack(
        "Shokri et al.", 1, 1, False, lambda p, t, s, **kw: shokri.shokri(p.logits, p.keep, p.y, t, s, **kw)
    ),
    "shokri_per_class": Attack(
        "Shokri et al. (per class)",
        1,
        1,
        False,
        lambda p, t, s, **kw: shokri.shokri(p.logits, p.keep, p.y, t, s, per_class=True, **kw),
    ),
    "calibrated": Attack(
        "Sablayrolles et al. (calibrated loss)",
        1,
        1,
        False,
        lambda p, t, s, **kw: calibrated.calibrated_loss(p.loss, p.keep, t, s, "both", **kw),
    ),
    "calibrated_out": Attack(
        "Watson et al. (OUT-calibrated loss)",
        0,
        1,
        False,
        lambda p, t, s, **kw: calibrated.calibrated_loss(p.loss, p.keep, t, s, "out", **kw),
    ),
    **{
        f"lira_{v}": Attack(_LIRA_LABELS[v], 2 if v.startswith("online") else 0, 2, False, _lira(v))
        for v in lira.VARIANTS
    },
    "rmia": Attack(
        "RMIA offline", 0, 1, False, lambda p, t, s, **kw: rmia.rmia(p.logits, p.keep, p.y, t, s, online=False, **kw)
    ),
    "rmia_online": Attack(
        "RMIA online", 1, 1, False, lambda p, t, s, **kw: rmia.rmia(p.logits, p.keep, p.y, t, s, online=True, **kw)
    ),
    "gradnorm": Attack(
        "gradient norm (white-box)", 0, 0, True, lambda p, t, s, **kw: gradnorm.gradient_norm(p, t, **kw)
    ),
    "baseline": Attack(
        "baseline (correctly classified)", 0, 0, False, lambda p, t, s, **kw: baseline.correctness_attack(p.correct, t)
    ),
    "label_only_aug": Attack(
        "label-only, augmentations (Choquette-Choo et al.)",
        0,
        0,
        False,
        lambda p, t, s, **kw: label_only.augmentation_scores(p, t, **kw),
        label_only.views_needed,
    ),
    "label_only_boundary": Attack(
        "label-only, boundary distance",
        0,
        0,
        False,
        lambda p, t, s, **kw: label_only.boundary_scores(p, t, **kw),
        label_only.params_needed,
    ),
    "qmia": Attack("QMIA (Bertran et al.)", 0, 0, False, lambda p, t, s, **kw: qmia.pool_scores(p, t, **kw)),
}

#: The seed's five attacks, LiRA's offline variant and RMIA: the black-box columns of Tables II/III.
DEFAULT_ATTACKS = ("loss", "shokri", "mentr", "calibrated", "lira_online", "lira_offline", "rmia")


def _ids(ids, k: int) -> np.ndarray:
    out = np.arange(k) if ids is None else np.asarray(ids, dtype=np.int64).ravel()
    if out.size == 0:
        raise ValueError("the list of model ids is empty")
    if out.min() < 0 or out.max() >= k:
        raise ValueError(f"model ids must lie in [0, {k}), got {out.min()}..{out.max()}")
    return out


def shadow_counts(keep: np.ndarray, target_ids, shadow_ids=None) -> tuple[int, int]:
    """Fewest IN and OUT shadow models any (target, example) has once the target is left out.

    Args:
        keep: bool [K, N]. target_ids: [T]. shadow_ids: [S] (default: all K).
    Returns:
        (min IN count, min OUT count) over targets and examples.
    """
    keep = np.asarray(keep, dtype=bool)
    k = keep.shape[0]
    targets, shadows = _ids(target_ids, k), _ids(shadow_ids, k)
    is_shadow = np.isin(targets, shadows)[:, None]
    n_in = keep[shadows].sum(0)[None] - (keep[targets] & is_shadow)
    n_out = (~keep[shadows]).sum(0)[None] - (~keep[targets] & is_shadow)
    return int(n_in.min()), int(n_out.min())


def check(pool, attacks, target_ids=None, shadow_ids=None, groups=None) -> None:
    """Raise one clear ``ValueError`` for unknown attacks, too few shadow models, a white-box attack on a pool
    without parameters, an attack whose other needs the pool does not meet (query views, parameters to query), or a
    group without examples; return None when everything can run."""
    attacks = [attacks] if isinstance(attacks, str) else list(attacks)
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known attacks: {', '.join(ATTACKS)}")
    if not attacks:
        raise ValueError("no attack requested")
    k, n = pool.keep.shape
    targets = _ids(target_ids, k)
    n_in, n_out = shadow_counts(pool.keep, targets, shadow_ids)
    for a in attacks:
        spec = ATTACKS[a]
        if n_in < spec.needs_in or n_out < spec.needs_out:
            raise ValueError(
                f"attack {a!r} needs at least {spec.needs_in} IN and {spec.needs_out} OUT shadow models per example "
                f"after leaving the target out, but this pool and these targets give only {n_in} IN and {n_out} OUT; "
                f"train a pool with more shadow models (n_shadow >= {2 * max(spec.needs_in, spec.needs_out) + 2}) or "
                f"pass other shadow_ids."
            )
        if spec.white_box and pool.params is None:
            raise ValueError(
                f"attack {a!r} is white-box and needs the models' parameters; train the pool with "
                f"Experiment(..., save_params=True)."
            )
        reason = spec.requires(pool) if spec.requires is not None else None
        if reason:
            raise ValueError(reason)
    for name, sel in _groups(groups, pool).items():
        _columns(sel, n, name)


def attack_scores(pool, attacks=DEFAULT_ATTACKS, target_ids=None, shadow_ids=None, options=None) -> dict:
    """Scores of each attack on the same target models.

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool`. attacks: names from :data:`ATTACKS`.
        target_ids: models to attack (default: all K). shadow_ids: models the attacker may use (default: all).
        options: {attack name: {keyword: value}} passed to that attack's function (e.g. ``{"rmia": {"a": 0.5}}``).
    Returns:
        {name: float64 scores [T, N]}, higher = member; the members are ``pool.keep[target_ids]``.
    Raises:
        ValueError: see :func:`check`.

    Used in chapters 3, 5.
    """
    attacks = [attacks] if isinstance(attacks, str) else list(attacks)
    check(pool, attacks, target_ids, shadow_ids)
    k = pool.keep.shape[0]
    targets = _ids(target_ids, k)
    shadows = None if shadow_ids is None else _ids(shadow_ids, k)
    options = options or {}
    variants = [a.removeprefix("lira_") for a in attacks if a.startswith("lira_") and not options.get(a)]
    out = {}
    if variants:  # one pass of leave-one-out moments for every LiRA variant
        both = lira.lira_scores(pool.phi, pool.keep, targets, shadows, variants=variants)
        out.update({f"lira_{v}": s for v, s in both.items()})
    for a in attacks:
        if a not in out:
            out[a] = np.asarray(ATTACKS[a].score(pool, targets, shadows, **options.get(a, {})), dtype=np.float64)
    return {a: out[a] for a in attacks}


def evaluate(
    scores: dict,
    is_member: np.ndarray,
    groups: dict | None = None,
    n_boot: int = 200,
    seed: int = 0,
    levels=metrics.FPR_LEVELS,
    alpha: float = 0.05,
    labels: dict | None = None,
) -> pd.DataFrame:
    """Tidy table of AUROC and TPR at each FPR level, with bootstrap CIs, per (attack, group).

    Args:
        scores: {attack: [T, N]}. is_member: bool [T, N]. groups: {name: bool [N] or index array} (default: all
            examples as "All"). n_boot: bootstrap replicates (0: no CIs). seed: bootstrap seed.
        labels: {attack: display label} for the ``label`` column (default: the zoo's labels, else the name).
    Returns:
        DataFrame with columns ``attack``, ``label``, ``group``, ``n_examples``, ``n_members``, ``n_nonmembers``,
        ``auroc``, ``auroc_lo``, ``auroc_hi``, ``advantage`` and, for each level, ``tpr_at_<level>`` with ``_lo`` /
        ``_hi``. A group whose (target, example) pairs are all members or all non-members gets NaN measures.
    Raises:
        ValueError: a group without examples.

    Used in chapters 3, 5.
    """
    m = np.atleast_2d(np.asarray(is_member, dtype=bool))
    n = m.shape[1]
    groups = {"All": np.ones(n, dtype=bool)} if groups is None else groups
    measures = ["auroc", "advantage"] + [metrics.level_name(t) for t in levels]
    rows = []
    for name, sel in groups.items():
        cols = _columns(sel, n, name)
        mb = m[:, cols]
        for attack, s in scores.items():
            row = {
                "attack": attack,
                "label": (labels or {}).get(attack, ATTACKS[attack].label if attack in ATTACKS else attack),
                "group": name,
                "n_examples": int(cols.size),
                "n_members": int(mb.sum()),
                "n_nonmembers": int((~mb).sum()),
            }
            sb = np.atleast_2d(np.asarray(s, dtype=np.float64))[:, cols]
            if mb.all() or not mb.any():
                row.update({k: np.nan for k in measures})
                row.update({f"{k}_{e}": np.nan for k in measures for e in ("lo", "hi")})
            else:
                point = metrics.summary(sb, mb, levels)
                ci = (
                    metrics.bootstrap_ci(sb, mb, n_boot=n_boot, alpha=alpha, seed=seed, levels=levels)
                    if n_boot
                    else {k: metrics.NAN_INTERVAL for k in measures}
                )
                for k in measures:
                    row[k] = point[k]
                    row[f"{k}_lo"], row[f"{k}_hi"] = ci[k].lo, ci[k].hi
            rows.append(row)
    front = ["attack", "label", "group", "n_examples", "n_members", "n_nonmembers"]
    ordered = front + [c for k in measures for c in (k, f"{k}_lo", f"{k}_hi")]
    return pd.DataFrame(rows, columns=ordered)


def run(
    pool,
    attacks=DEFAULT_ATTACKS,
    target_ids=None,
    shadow_ids=None,
    groups=None,
    n_boot: int = 200,
    seed: int = 0,
    options=None,
    levels=metrics.FPR_LEVELS,
) -> pd.DataFrame:
    """Run attacks on a pool and tabulate them: :func:`attack_scores` then :func:`evaluate`.

    Args:
        pool, attacks, target_ids, shadow_ids, options: as in :func:`attack_scores`.
        groups: {name: bool [N] or index array} (default: "All", plus "Under-represented" when the pool has an
            under-represented group). n_boot, seed, levels: as in :func:`evaluate`.
    Returns:
        the tidy table of :func:`evaluate`, one row per (attack, group).
    Raises:
        ValueError: unknown attack, too few shadow models, white-box attack without parameters, empty group; all
            checked before any attack runs.
    """
    groups = _groups(groups, pool)
    check(pool, attacks, target_ids, shadow_ids, groups)
    scores = attack_scores(pool, attacks, target_ids, shadow_ids, options)
    targets = _ids(target_ids, pool.keep.shape[0])
    return evaluate(scores, pool.keep[targets], groups, n_boot=n_boot, seed=seed, levels=levels)


def by_setting(table: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Re-cut an :func:`evaluate` table into the seed's settings: each gets the "All" rows and one group's rows.

    Args:
        table: from :func:`evaluate`, with an ``All`` group. settings: {setting name: group name} — e.g.
            ``{"MNIST+fonts (singletons)": "singletons"}``; that group's rows become "Under-represented".
    Returns:
        long table with ``setting`` and ``selection`` (the group name) columns and ``group`` in {"All",
        "Under-represented"}, settings in order.

    Used in chapter 3.
    """
    if not (table["group"] == "All").any():
        raise ValueError("the table has no 'All' group")
    parts = []
    for name, group in settings.items():
        under = table[table["group"] == group]
        if under.empty:
            raise ValueError(f"setting {name!r}: the table has no group {group!r}")
        parts.append(
            pd.concat([table[table["group"] == "All"], under.assign(group="Under-represented")]).assign(
                setting=name, selection=group
            )
        )
    return pd.concat(parts, ignore_index=True)


def seed_layout(long: pd.DataFrame, level: float = 0.001, ci: bool = True, digits: int = 2) -> pd.DataFrame:
    """Tables II/III of *Why Train More?*: rows (attack, setting), columns AUROC and TPR at ``level`` FPR, each for
    "All" and "Under-represented".

    Args:
        long: from :func:`by_setting` (several concatenated are fine). level: the FPR of the TPR columns.
        ci: show "value [low, high]" strings (TPR in %, one digit less); False gives the plain numbers (TPR as a
            fraction).
    Returns:
        DataFrame indexed by (label, setting), attacks and settings in order of appearance.

    Used in chapter 3.
    """
    tpr = metrics.level_name(level)
    pct = f"TPR @ {level:.1%} FPR"
    out = {}
    for (label, setting), part in long.groupby(["label", "setting"], sort=False):
        row = {}
        for _, r in part.iterrows():
            for measure, col, scale in (("auroc", "AUROC", 1), (tpr, pct, 100)):
                v, lo, hi = (r[measure] * scale, r[f"{measure}_lo"] * scale, r[f"{measure}_hi"] * scale)
                if not ci:
                    row[(col, r["group"])] = r[measure]
                elif np.isnan(v):
                    row[(col, r["group"])] = "–"
                else:
                    unit, d = ("%", max(digits - 1, 0)) if scale == 100 else ("", digits)
                    bounds = "" if np.isnan(lo) else f" [{lo:.{d}f}{unit}, {hi:.{d}f}{unit}]"
                    row[(col, r["group"])] = f"{v:.{d}f}{unit}{bounds}"
        out[(label, setting)] = row
    frame = pd.DataFrame.from_dict(out, orient="index")
    order = [(a, st) for a in long["label"].unique() for st in long["setting"].unique() if (a, st) in out]
    frame = frame.loc[order]
    frame.index.names = ["attack", "setting"]
    cols = [(c, g) for c in ("AUROC", pct) for g in ("All", "Under-represented") if (c, g) in frame.columns]
    return frame[pd.MultiIndex.from_tuples(cols)]


def cells(long: pd.DataFrame, level: float = 0.001) -> pd.DataFrame:
    """One row per (attack, setting) of a :func:`by_setting` table: AUROC and TPR at ``level`` FPR with CIs.

    Returns:
        DataFrame with the key columns (``attack``, ``label``, ``setting``, ``selection`` and ``source`` when
        present) and ``{auroc,tpr}_{all,under}`` with ``_lo`` / ``_hi``.

    Used in chapter 3.
    """
    keys = [k for k in ("attack", "label", "setting", "selection", "source") if k in long.columns]
    tpr = metrics.level_name(level)
    rows = []
    for key, part in long.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key))
        for group, side in (("All", "all"), ("Under-represented", "under")):
            r = part[part["group"] == group].iloc[0]
            for measure, short in (("auroc", "auroc"), (tpr, "tpr")):
                for end in ("", "_lo", "_hi"):
                    row[f"{short}_{side}{end}"] = r[measure + end]
        rows.append(row)
    return pd.DataFrame(rows)


def claims(
    kept: dict,
    strongest: str = "lira_online",
    n_boot: int = 200,
    seed: int = 0,
    everyone: str = "All",
    random: str = "random",
    singletons: str = "singletons",
) -> dict:
    """*Why Train More?*'s §7.1 claims as verdicts of :mod:`mia_lib.claims`, each from a paired bootstrap of AUROC
    differences (every replicate resamples one pool's examples once, for every attack and group at the same time).

    1. every attack does better on the under-represented examples than on all examples: AUROC(group) − AUROC(All)
       per (source, selection, attack);
    2. singletons are more exposed than a random sample of the under-represented group: AUROC(singletons) −
       AUROC(random) per (source, attack);
    3. the ``strongest`` attack (Carlini et al.'s LiRA) outperforms every other attack in every setting:
       AUROC(strongest) − AUROC(other) on each selection; a tie (an interval reaching 0, e.g. two attacks at 1.0)
       is not support.

    Args:
        kept: {source: (scores {attack: [T, N]}, is_member bool [T, N], groups {name: bool [N]})}, one pool per
            source, ``groups`` holding ``everyone`` and the selections. A group whose pairs are all members or all
            non-members is skipped.
    Returns:
        {"under_beats_all": DataFrame (source, selection, attack, diff, verdict),
        "singletons_beat_random": DataFrame (source, attack, diff, verdict),
        "strongest": DataFrame (source, selection, rivals — the attacks not detectably weaker —, diff to the
        closest rival, verdict), "verdicts": {"under_beats_all", "singletons_beat_random", "strongest_everywhere":
        :class:`mia_lib.claims.Verdict` over all cells}}. Diffs are :class:`mia_lib.metrics.Interval`.

    Used in chapter 3.
    """
    from .. import claims as cl

    under_rows, pair_rows, best_rows = [], [], []
    for source, (scores, is_member, groups) in kept.items():
        m = np.atleast_2d(np.asarray(is_member, dtype=bool))
        usable = {
            g: sel for g, sel in groups.items() if m[:, np.asarray(sel)].any() and not m[:, np.asarray(sel)].all()
        }
        attacks = {a: {g: metrics.WeightedAttack(s, m, sel) for g, sel in usable.items()} for a, s in scores.items()}
        selections = [g for g in usable if g != everyone]

        def statistic(w, attacks=attacks, selections=selections):
            auc = {(a, g): wa.measure("auroc", w) for a, per in attacks.items() for g, wa in per.items()}
            out = {}
            for a in attacks:
                for g in selections:
                    out[("u", g, a)] = auc[(a, g)] - auc[(a, everyone)] if everyone in usable else np.nan
                    if a != strongest and strongest in attacks:
                        out[("b", g, a)] = auc[(strongest, g)] - auc[(a, g)]
                if random in usable and singletons in usable:
                    out[("s", a)] = auc[(a, singletons)] - auc[(a, random)]
            return out

        diffs = metrics.paired_bootstrap(statistic, m.shape[1], n_boot, seed=seed)
        for (kind, *rest), d in diffs.items():
            if kind == "u":
                v = cl.greater(d, "AUROC, under-represented − all")
                under_rows.append({"source": source, "selection": rest[0], "attack": rest[1], "diff": d, "verdict": v})
            elif kind == "s":
                v = cl.greater(d, "AUROC, singletons − random sample")
                pair_rows.append({"source": source, "attack": rest[0], "diff": d, "verdict": v})
        for g in selections:
            others = {a: diffs[("b", g, a)] for a in attacks if ("b", g, a) in diffs}
            if not others:
                continue
            verdict = cl.all_of(
                [cl.greater(d, f"AUROC, {strongest} − {a}") for a, d in others.items()],
                f"AUROC, {strongest} − the closest other attack",
            )
            closest = min(others, key=lambda a: others[a].value)
            rivals = [a for a, d in others.items() if not d.lo > 0]
            best_rows.append(
                {
                    "source": source,
                    "selection": g,
                    "rivals": rivals,
                    "closest": closest,
                    "diff": others[closest],
                    "verdict": verdict,
                }
            )
    under, pairs, best = pd.DataFrame(under_rows), pd.DataFrame(pair_rows), pd.DataFrame(best_rows)

    def overall(table, statistic):
        return (
            cl.all_of(table["verdict"], statistic)
            if len(table)
            else cl.Verdict(cl.INCONCLUSIVE, statistic, np.nan, (np.nan, np.nan))
        )

    return {
        "under_beats_all": under,
        "singletons_beat_random": pairs,
        "strongest": best,
        "verdicts": {
            "under_beats_all": overall(under, "AUROC, under-represented − all (weakest cell)"),
            "singletons_beat_random": overall(pairs, "AUROC, singletons − random sample (weakest pair)"),
            "strongest_everywhere": overall(best, f"AUROC, {strongest} − the closest other attack (weakest setting)"),
        },
    }


def baseline_claims(
    kept: dict,
    baseline_attack: str = "baseline",
    strongest: str = "lira_online",
    candidates=None,
    margin: float = 0.02,
    tpr_margin: float = 0.01,
    level: float = 0.001,
    n_boot: int = 200,
    seed: int = 0,
    everyone: str = "All",
) -> dict:
    """The lecture's two claims about the baseline attack (member iff classified correctly), as verdicts of
    :mod:`mia_lib.claims` on paired bootstrap intervals over each pool's examples:

    1. "the baseline is hard to beat on average": the balanced accuracy (at the best threshold, 0.5 + advantage/2)
       of the best attack minus the baseline's lies within ±``margin`` (:func:`mia_lib.claims.equivalent`) in every
       pool; the best attack is the candidate with the highest balanced accuracy on that pool (chosen on the same
       data, which favours it, so the test leans against the claim);
    2. "at low FPR, instance-specific attacks beat it by far": TPR at ``level`` FPR of ``strongest`` minus the
       baseline's exceeds ``tpr_margin`` (:func:`mia_lib.claims.greater`) in every pool.

    Args:
        kept: {source: (scores {attack: [T, N]}, is_member bool [T, N], groups {name: bool [N]})} as for
            :func:`claims`; measured on the ``everyone`` group. candidates: the attacks that may be "best" (default:
            every attack of the pool but the baseline).
    Returns:
        {"table": DataFrame (source, best, bacc_best, bacc_baseline, bacc_diff, tpr_strongest, tpr_baseline,
        tpr_diff, hard_to_beat, beats_at_low_fpr — the last two :class:`mia_lib.claims.Verdict`, the diffs
        :class:`mia_lib.metrics.Interval`), "verdicts": {"hard_to_beat", "beats_at_low_fpr"}}.

    Used in chapter 3.
    """
    from .. import claims as cl

    tpr = metrics.level_name(level)
    rows = []
    for source, (scores, is_member, groups) in kept.items():
        m = np.atleast_2d(np.asarray(is_member, dtype=bool))
        cols = _columns(groups[everyone], m.shape[1], everyone)
        names = [a for a in (candidates or scores) if a != baseline_attack and a in scores]
        wa = {a: metrics.WeightedAttack(scores[a], m, cols) for a in {*names, strongest, baseline_attack}}
        bacc = {a: 0.5 + wa[a].measure("advantage") / 2 for a in names}
        best = max(names, key=lambda a: bacc[a])

        def statistic(w, best=best, wa=wa):
            base_adv, base_tpr = wa[baseline_attack].measure("advantage", w), wa[baseline_attack].measure(tpr, w)
            return {
                "bacc": (wa[best].measure("advantage", w) - base_adv) / 2,
                "tpr": wa[strongest].measure(tpr, w) - base_tpr,
            }

        d = metrics.paired_bootstrap(statistic, m.shape[1], n_boot, seed=seed)
        n = int(cols.size)
        rows.append(
            {
                "source": source,
                "best": best,
                "bacc_best": bacc[best],
                "bacc_baseline": 0.5 + wa[baseline_attack].measure("advantage") / 2,
                "bacc_diff": d["bacc"],
                "tpr_strongest": wa[strongest].measure(tpr),
                "tpr_baseline": wa[baseline_attack].measure(tpr),
                "tpr_diff": d["tpr"],
                "hard_to_beat": cl.equivalent(
                    d["bacc"], margin, f"balanced accuracy, best attack − {baseline_attack}", n=n
                ),
                "beats_at_low_fpr": cl.greater(
                    d["tpr"], f"TPR at {level:.1%} FPR, {strongest} − {baseline_attack}", tpr_margin, n=n
                ),
            }
        )
    table = pd.DataFrame(rows)
    return {
        "table": table,
        "verdicts": {
            "hard_to_beat": cl.all_of(
                table["hard_to_beat"], f"balanced accuracy, best attack − {baseline_attack} (weakest pool)"
            ),
            "beats_at_low_fpr": cl.all_of(
                table["beats_at_low_fpr"],
                f"TPR at {level:.1%} FPR, {strongest} − {baseline_attack} (weakest pool)",
            ),
        },
    }


def _groups(groups, pool) -> dict:
    if groups is not None:
        return dict(groups)
    n = pool.keep.shape[1]
    out = {"All": np.ones(n, dtype=bool)}
    if (pool.group == 1).any():
        out["Under-represented"] = pool.group == 1
    return out


def _columns(sel, n: int, name) -> np.ndarray:
    sel = np.asarray(sel)
    if sel.dtype == bool:
        if sel.shape != (n,):
            raise ValueError(f"group {name!r}: a boolean mask must have shape ({n},), got {sel.shape}")
        cols = np.flatnonzero(sel)
    else:
        cols = sel.astype(np.int64).ravel()
        if cols.size and (cols.min() < 0 or cols.max() >= n):
            raise ValueError(f"group {name!r}: example indices must lie in [0, {n})")
    if cols.size == 0:
        raise ValueError(f"group {name!r} has no examples")
    return cols
