# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # LiRA and memorization: who is exposed?
#
# A membership inference attack looks at a trained model and one example and guesses whether the example was in
# the training set. Averaged over all examples, even a strong attack looks weak. This chapter trains a pool of
# shadow models, runs the likelihood-ratio attack (LiRA) of Carlini et al. and the loss-threshold attack of Yeom et
# al. on every model of the pool, and then asks *which* examples the attack exposes. The answer, as in
# *Why Train More?*, is: the examples the training algorithm memorizes.

# %% tags=["parameters"]
dataset = "digits"  # a name known to mia_lib.data (mnist5k, mnist, ...)
data_dir = None  # folder with torchvision data, for full-scale runs
model = "mlp"  # mlp, cnn32, cnn64, resnet9, resnet18
n_shadow = 128  # models in the pool (each example IN for half of them)
epochs = 40  # training epochs per model
n_queries = 1  # query views: the image alone, or up to 5 with shifts
compare_views = 5  # query views in the augmented-query comparison (2 to 5)
seed = 0  # master seed
device = "auto"  # "auto" uses a CUDA GPU when there is one
scheduler = None  # Dask: "local:N" or "tcp://host:8786"; None: here
n_boot = 200  # bootstrap replicates for confidence intervals
quick = False  # CI smoke mode: tiny data, few models, few epochs

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mia_lib import claims, config, memorization, metrics, plotting, pool
from mia_lib.attacks import lira, threshold
from mia_lib.book import report

plotting.style()
cfg = config.Experiment(
    dataset=dataset,
    data_dir=data_dir,
    model=model,
    n_shadow=n_shadow,
    epochs=epochs,
    n_queries=n_queries,
    seed=seed,
    device=device,
    scheduler=scheduler,
).quick_if(quick)
n_boot = metrics.n_boot_for(n_boot, quick)
tested = []  # the claims this chapter tests, for the claims ledger
lira.check_n_shadow(cfg.n_shadow)  # fail now, not after training
cfg

# %% [markdown]
# ## The pool
#
# We train `n_shadow` models at once (vmapped over stacked parameters). The *keep matrix* decides who trains on
# what: every example is in the training set of exactly half of the models. Each model is queried on every example
# (on the image itself, plus shifted copies when `n_queries` > 1), and the logits are cached on disk, keyed by the
# configuration, so re-running the notebook is instant.

# %%
t0 = time.perf_counter()
shadow = pool.load_or_train(cfg)
n_models, n_examples = shadow.keep.shape
report.glue("n_shadow", n_models)
report.glue("n_examples", n_examples)
report.glue("train_acc", shadow.train_acc.mean(), "{:.1%}")
report.glue("test_acc", shadow.test_acc.mean(), "{:.1%}")
report.glue("seconds_training", shadow.seconds_training, "{:.0f}")
pd.Series(
    {
        "models": n_models,
        "examples": n_examples,
        "query views": shadow.logits.shape[2],
        "mean train accuracy": f"{shadow.train_acc.mean():.4f}",
        "mean test accuracy": f"{shadow.test_acc.mean():.4f}",
        "training seconds": f"{shadow.seconds_training:.1f}",
    },
    dtype=object,
).to_frame("value")

# %% [markdown]
# The {glue:text}`n_shadow` models reach a mean training accuracy of {glue:text}`train_acc` and a mean accuracy
# of {glue:text}`test_acc` on the examples they did not train on. Training took {glue:text}`seconds_training`
# seconds (measured when the pool was trained; a later run loads it from the cache instead).
#
# ## The attacks
#
# Every model of the pool serves in turn as the *target*. For a target, the other models are its shadow models:
# for each example, those that trained on it give the IN distribution of the logit-scaled confidence
# $\phi = \log \frac{p_y}{1 - p_y}$, those that did not give the OUT distribution. The target's own outputs are never
# part of its statistics (leave-one-model-out). The variants:
#
# - **online**: fit Gaussians to IN and OUT and score $\log \mathcal{N}(\phi; \mu_{in}, \sigma_{in}^2) -
#   \log \mathcal{N}(\phi; \mu_{out}, \sigma_{out}^2)$;
# - **offline** (one-sided, as in the paper): only OUT models; per query view the one-sided p-value is
#   $p = 1 - \Phi((\phi - \mu_{out})/\sigma_{out})$, and views are combined as in Fisher's method, score
#   $-\frac{1}{A}\sum_a \log p_a$ (averaging $\log \Phi$ instead would saturate at 0 for every confident member);
# - **offline, two-sided** (as in Carlini et al.'s code): score $-\log \mathcal{N}(\phi; \mu_{out}, \sigma_{out}^2)$;
# - **fixed variance**: one global $\sigma_{in}^2$ and one global $\sigma_{out}^2$ (the mean of the per-example
#   variances, kept apart as in TF Privacy) instead of one pair per example.
#
# The **loss attack** needs no shadow models: members tend to have lower loss. Scores are pooled over all
# (target, example) pairs, and "TPR at 0.1% FPR" is the largest true-positive rate among thresholds whose
# false-positive rate is at most 0.1% (Carlini et al.'s code uses "below 0.1%").

# %%
is_member = shadow.keep
attacks = lira.lira_scores(shadow.phi, shadow.keep)
attacks["loss"] = threshold.loss_attack(shadow.loss)
rows = [
    {
        "attack": name,
        **metrics.summary_with_ci(s, is_member, n_boot=n_boot, seed=seed),
    }
    for name, s in attacks.items()
]
table = pd.DataFrame(rows).set_index("attack")
report.ci_table(table)

# %% tags=["remove-input"]
best = table.loc["online"]
report.glue("lira_online_auroc", best["auroc"], "{:.3f}")
report.glue("lira_online_tpr", best["tpr_at_0.1pct_fpr"], "{:.3f}")
report.glue("loss_auroc", table.loc["loss", "auroc"], "{:.3f}")
report.glue("loss_tpr", table.loc["loss", "tpr_at_0.1pct_fpr"], "{:.4f}")
_ = report.glue(
    "lira_offline_auroc", table.loc["offline", "auroc"], "{:.3f}"
)
# %% [markdown]
# Online LiRA reaches an AUROC of {glue:text}`lira_online_auroc` and a TPR of {glue:text}`lira_online_tpr` at
# 0.1% FPR; the offline attack, which never sees a model trained on the example, reaches
# {glue:text}`lira_offline_auroc`. The loss attack's AUROC is {glue:text}`loss_auroc` with a TPR of
# {glue:text}`loss_tpr` at 0.1% FPR. The log-log ROC curve shows where the difference lies: at low false-positive
# rates, where an attack is confidently right about a few examples.

# %% mystnb={"figure": {"caption": "ROC curves of LiRA variants and the loss attack on log-log axes.", "name": "fig-01-roc"}}
fig, ax = plt.subplots(figsize=(6, 5))
shown = {
    "LiRA online": "online",
    "LiRA online, fixed var.": "online_fixed",
    "LiRA offline": "offline",
    "LiRA offline, two-sided": "offline_two_sided",
    "loss": "loss",
}
plotting.roc_loglog(
    ax,
    {label: (attacks[key], is_member) for label, key in shown.items()},
    n_min=int((~is_member).sum()),
)
plt.show()

# %% [markdown]
# ### Augmented queries
#
# Carlini et al. query each model on several augmented copies of an example (flips, shifts) and average the
# per-view log-likelihood ratios, because their models were *trained* with those augmentations. Ours were not. The
# comparison below trains the same pool again, this time logging {glue:text}`compare_views` views per example (the
# image and its one-pixel shifts), and scores online LiRA once on the image alone and once on all views.

# %%
report.glue("compare_views", compare_views)
shifted = pool.load_or_train(cfg.replace(n_queries=compare_views))
views = {
    "the image only": shifted.phi[:, :, :1],
    f"all {compare_views} views": shifted.phi,
}
per_view = pd.DataFrame(
    {
        name: metrics.summary(lira.lira(phi, shifted.keep), shifted.keep)
        for name, phi in views.items()
    }
).T
one, many = per_view.iloc[0], per_view.iloc[1]
s_one, s_many = (lira.lira(phi, shifted.keep) for phi in views.values())
gain = metrics.bootstrap_diff(
    (s_many, shifted.keep),
    (s_one, shifted.keep),
    "auroc",
    n_boot,
    seed=seed,
)
views_claim = claims.greater(gain, "AUROC, all views − image only")
tested.append(
    claims.record(
        "Averaging LiRA over augmented query views makes it stronger",
        "Carlini et al. 2022 (LiRA), query augmentations",
        views_claim,
        f"{cfg.dataset}, {cfg.model}, models trained without augmentation",
        "01_lira_and_memorization",
    )
)
report.glue("views_one_auroc", one["auroc"], "{:.3f}")
report.glue("views_many_auroc", many["auroc"], "{:.3f}")
report.glue_verdict(
    "views_verdict",
    views_claim,
    yes="helps",
    no="does not help",
    unsure="makes no detectable difference",
)
why = {
    claims.SUPPORTED: "Averaging views reduces the noise of one query.",
    claims.NOT_SUPPORTED: "Shifted images are inputs these models never "
    "saw in training, so their confidences add more noise than signal.",
    claims.INCONCLUSIVE: "The difference is within the noise of this run.",
}
report.glue("views_why", why[views_claim.verdict])
per_view[["auroc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"]].round(4)

# %% [markdown]
# Online LiRA reaches an AUROC of {glue:text}`views_one_auroc` on the image alone and {glue:text}`views_many_auroc`
# when it averages over the shifted views: here, augmenting the queries {glue:text}`views_verdict`
# (paired bootstrap of the difference on the same targets and examples: {glue:text}`views_verdict_stat`).
# {glue:text}`views_why` The rest of the book queries the image only unless a chapter says otherwise.

# %% [markdown]
# ## Memorization
#
# Feldman and Zhang define the memorization of example $n$ as how much more often a model classifies it correctly
# when it trained on it: $\mathrm{mem}_n = \Pr[h(x_n) = y_n \mid n \in S] - \Pr[h(x_n) = y_n \mid n \notin S]$. The
# same keep matrix gives this estimate for free. To check that the estimate is stable, we compute it on the two
# disjoint halves of the pool and correlate.

# %%
mem = memorization.memorization(shadow.correct, shadow.keep)
mem_a, mem_b, r_split = memorization.split_half(shadow.correct, shadow.keep)
report.glue("mem_split_half_r", r_split, "{:.3f}")
report.glue("share_mem_above_half", np.mean(mem > 0.5), "{:.1%}")
report.glue("share_mem_nonpositive", np.mean(mem <= 0), "{:.1%}")
_ = report.glue("mem_mean", np.nanmean(mem), "{:.3f}")
# %% mystnb={"figure": {"caption": "Memorization of every example, estimated from the whole pool.", "name": "fig-01-mem-hist"}}
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(mem, bins=np.linspace(-0.2, 1, 49), color="C0")
ax.set(yscale="log", xlabel="memorization", ylabel="examples")
plt.show()

# %% [markdown]
# Memorization is very skewed: {glue:text}`share_mem_nonpositive` of the examples have memorization of zero or
# less, while {glue:text}`share_mem_above_half` have memorization above 0.5 (mean {glue:text}`mem_mean`). The two
# half-pool estimates correlate with Pearson $r$ = {glue:text}`mem_split_half_r`.
#
# ## Attack success by memorization
#
# Now we split the examples by memorization and measure each attack on each part. To avoid selection bias,
# memorization is estimated on the first half of the pool only and the attacks target only the models of the
# second half (their shadow statistics still come from every other model).

# %%
half = n_models // 2
targets = np.arange(half, n_models)
scores_h = lira.lira_scores(
    shadow.phi, shadow.keep, target_ids=targets, variants=["online"]
)["online"]
loss_h = threshold.loss_attack(shadow.loss, targets)
subsets = memorization.bin_subsets(mem_a)
by_bin = pd.concat(
    {
        name: pd.DataFrame(
            metrics.by_subset(
                s, shadow.keep[targets], subsets, n_boot=n_boot
            )
        )
        for name, s in (("LiRA online", scores_h), ("loss", loss_h))
    },
    names=["attack", None],
)
by_bin = by_bin.reset_index(level=0).reset_index(drop=True)
report.ci_table(by_bin.set_index(["attack", "subset"]))

# %% mystnb={"figure": {"caption": "Attack success per memorization bin, with 95% bootstrap intervals.", "name": "fig-01-by-bin"}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, measure, label in (
    (axes[0], "auroc", "AUROC"),
    (axes[1], "tpr_at_0.1pct_fpr", "TPR at 0.1% FPR"),
):
    plotting.bars_by_subset(ax, by_bin, measure)
    ax.set(
        xlabel="memorization bin (first half of the pool)",
        ylabel=label.lower(),
    )
axes[0].axhline(0.5, color="gray", ls="--", lw=1)
axes[1].legend()
plt.show()

# %% [markdown]
# The same comparison, cut differently: the top decile of examples by memorization against the other 90%.

# %%
top = memorization.top_fraction(mem_a, 0.1)
dec = pd.DataFrame(
    metrics.by_subset(
        scores_h,
        shadow.keep[targets],
        {"top decile": top, "other 90%": ~top},
        n_boot=n_boot,
    )
).set_index("subset")
tpr_top, tpr_rest = (
    dec.loc["top decile", "tpr_at_0.1pct_fpr"],
    dec.loc["other 90%", "tpr_at_0.1pct_fpr"],
)
edge = metrics.subset_diff(
    scores_h,
    shadow.keep[targets],
    top,
    ~top,
    "tpr_at_0.1pct_fpr",
    n_boot,
    seed=seed,
)
mem_claim = claims.greater(edge, "TPR at 0.1% FPR, top decile − rest")
tested.append(
    claims.record(
        "Highly memorized examples are far more exposed than the rest",
        "Why Train More? §4 (memorization explains who is exposed)",
        mem_claim,
        f"{cfg.dataset}, {cfg.model}, {n_models} models",
        "01_lira_and_memorization",
    )
)
report.glue("tpr_top_decile", tpr_top, "{:.3f}")
report.glue("tpr_rest", tpr_rest, "{:.4f}")
report.glue("auroc_top_decile", dec.loc["top decile", "auroc"], "{:.3f}")
report.glue("auroc_rest", dec.loc["other 90%", "auroc"], "{:.3f}")
report.glue(
    "tpr_ratio",
    tpr_top / max(tpr_rest, 1.0 / (~shadow.keep[targets]).sum()),
    "{:.0f}",
)
report.glue_verdict("verdict", mem_claim)
report.ci_table(dec)

# %% [markdown]
# On the most memorized tenth of the examples, LiRA reaches an AUROC of {glue:text}`auroc_top_decile` and a TPR of
# {glue:text}`tpr_top_decile` at 0.1% FPR; on the other 90% it reaches {glue:text}`auroc_rest` and
# {glue:text}`tpr_rest`, about {glue:text}`tpr_ratio` times less (the rest's TPR is floored at one false positive's
# worth when it is zero). This run {glue:text}`verdict` the claim that highly memorized examples are far more
# exposed: the claim counts as supported when the 95% bootstrap interval of the *difference* (top decile − rest,
# both measured on each resampled set of examples) lies above zero; here {glue:text}`verdict_stat`.

# %% [markdown]
# ## Exercises
#
# The solutions reuse this chapter's pools (no training) and are folded away: try first, then open them.
#
# **Exercise 1.1 (sixteen shadow models).** Carlini et al. recommend a *fixed* variance when shadow models are
# few. Give LiRA only 8 IN and 8 OUT shadow models per example (16 models in all) and compare its four variants
# (online and offline, with per-example or fixed variance) with the same variants on every shadow candidate.
# Which variant degrades first, and why? Hint: `efficiency.sweep(..., ks=[8])` scores exactly this from the
# cached pool, on fixed targets.

# %% tags=["hide-input"]
from mia_lib import efficiency

ex1_targets = np.arange(n_models - n_models // 4, n_models)
ex1_shadows = np.arange(n_models - n_models // 4)
ex1_side = np.minimum(
    shadow.keep[ex1_shadows].sum(0), (~shadow.keep[ex1_shadows]).sum(0)
)
ex1_k = min(8, int(ex1_side.min()))
ex1_sweep = efficiency.sweep(
    shadow.phi,
    shadow.keep,
    ex1_targets,
    ex1_shadows,
    {"all": np.ones(n_examples, bool)},
    ks=[ex1_k],
    n_rep=5,
    variants=efficiency.VARIANTS,
    seed=seed,
)
ex1_auc = ex1_sweep.groupby(["variant", "full"])["auroc"].mean().unstack()
ex1_drop = (ex1_auc[True] - ex1_auc[False]).sort_values(ascending=False)
ex1_names = {
    "online": "online, per-example variance",
    "online_fixed": "online, fixed variance",
    "offline": "offline, per-example variance",
    "offline_fixed": "offline, fixed variance",
}
ex1_worst = ex1_drop.index[0]
report.glue("ex1_k", ex1_k)
report.glue("ex1_models", 2 * ex1_k)
report.glue("ex1_full", 2 * int(np.median(ex1_side)))
report.glue("ex1_worst", ex1_names[ex1_worst])
report.glue(
    "ex1_drops",
    "; ".join(f"{ex1_names[v]} {d:.3f}" for v, d in ex1_drop.items()),
)
_ = report.glue(
    "ex1_why",
    "With k values per side, a per-example variance is estimated from k "
    "numbers: it is noisy, and where it comes out too small the Gaussian "
    "test is overconfident. A fixed variance pools the spread of every "
    "example, so it loses less."
    if ex1_worst in ("online", "offline")
    else "Here a fixed-variance variant loses most: the per-example "
    "variances still carry information at this budget (members' φ is "
    "tighter than non-members'), which a shared variance cannot see.",
)

# %% [markdown]
# ```{dropdown} Solution
# With {glue:text}`ex1_k` IN and {glue:text}`ex1_k` OUT shadow models per example ({glue:text}`ex1_models` in
# all, against about {glue:text}`ex1_full` for the full set of candidates), the AUROC falls by
# {glue:text}`ex1_drops` (full minus few, mean of 5 random draws). The variant that degrades first is
# **{glue:text}`ex1_worst`**. {glue:text}`ex1_why` {doc}`Chapter 5 <05_shadow_efficiency>` runs the whole
# sweep over the number of shadow models.
# ```
#
# **Exercise 1.2 (a threshold per class).** The loss attack uses one threshold for every example. Song and
# Mittal instead learn one threshold per class from shadow models. Learn per-class loss thresholds on the first
# half of the pool (`threshold.class_thresholds`), score the targets of the second half with $\tau_y - \ell$, and
# compare with the global loss attack on the same targets (paired bootstrap of the AUROC difference).

# %% tags=["hide-input"]
ex2_tau = threshold.class_thresholds(
    shadow.loss[:half], shadow.keep[:half], shadow.y
)
ex2_scores = ex2_tau[shadow.y] - shadow.loss[targets]
ex2_member = shadow.keep[targets]
ex2_diff = metrics.bootstrap_diff(
    (ex2_scores, ex2_member),
    (loss_h, ex2_member),
    "auroc",
    n_boot,
    seed=seed,
)
report.glue(
    "ex2_auc_class", metrics.auroc(ex2_scores, ex2_member), "{:.3f}"
)
report.glue("ex2_auc_global", metrics.auroc(loss_h, ex2_member), "{:.3f}")
report.glue("ex2_diff", ex2_diff.text())
_ = report.glue(
    "ex2_word",
    {
        "better": "is better than",
        "worse": "is worse than",
    }.get(claims.compare(ex2_diff), "is not detectably different from"),
)

# %% [markdown]
# ```{dropdown} Solution
# The per-class thresholds give an AUROC of {glue:text}`ex2_auc_class`, against {glue:text}`ex2_auc_global` for
# one global threshold on the same targets: the class-conditional attack {glue:text}`ex2_word` the global one
# (difference {glue:text}`ex2_diff`). Within a class both attacks rank the examples in the same order; a
# threshold per class only shifts whole classes against each other, so it helps exactly as much as the classes
# differ in their typical loss.
# ```
#
# **Exercise 1.3 (how many models does memorization need?).** The split-half correlation above uses two halves
# of the whole pool. Recompute it on the first quarter of the pool only (`memorization.split_half` on
# `shadow.correct[:m]`, `shadow.keep[:m]`). How much less stable is the estimate?

# %% tags=["hide-input"]
ex3_m = max(n_models // 4, 4)
_, _, ex3_r = memorization.split_half(
    shadow.correct[:ex3_m], shadow.keep[:ex3_m]
)
report.glue("ex3_half", ex3_m // 2)
report.glue("ex3_r", ex3_r, "{:.3f}")
_ = report.glue("ex3_half_full", n_models // 2)

# %% [markdown]
# ```{dropdown} Solution
# With {glue:text}`ex3_half` models per half the two estimates correlate at $r$ = {glue:text}`ex3_r`, against
# {glue:text}`mem_split_half_r` with {glue:text}`ex3_half_full` per half. Each half's estimate of an example is a
# difference of two shares, each over about half of that half's models, so its noise shrinks like one over
# the square root of the number of models, and two noisier estimates correlate less.
# ```

# %% [markdown]
# ## Summary
#
# - A pool of {glue:text}`n_shadow` models, each trained on half of {glue:text}`n_examples` examples, gives every
#   attack and measure of this chapter from one cached array of logits.
# - Averaged over all examples, LiRA looks modest (AUROC {glue:text}`lira_online_auroc`) and the loss attack looks
#   harmless (AUROC {glue:text}`loss_auroc`).
# - Memorization, estimated from the same pool, is stable (split-half $r$ = {glue:text}`mem_split_half_r`) and
#   explains who is exposed: the most memorized examples are identified at low false-positive rates, the rest
#   almost never.
#
# Re-run this chapter with more models or another dataset with
# `python -m mia_lib run notebooks/01_lira_and_memorization.py -p n_shadow 256 -p dataset mnist5k`.

# %% tags=["remove-input"]
_ = report.save_results(
    "01_lira_and_memorization",
    {
        "headline": [
            report.headline(
                "LiRA (online) AUROC, all examples",
                table.loc["online", "auroc_ci"],
                section="The attacks",
            ),
            report.headline(
                "LiRA (online) TPR at 0.1% FPR",
                table.loc["online", "tpr_at_0.1pct_fpr_ci"],
                section="The attacks",
            ),
            report.headline(
                "loss attack AUROC",
                table.loc["loss", "auroc_ci"],
                section="The attacks",
            ),
            report.headline(
                "TPR at 0.1% FPR, most memorized tenth − rest",
                edge,
                section="Attack success by memorization",
            ),
        ],
        "lira_online_auroc": best["auroc"],
        "lira_online_tpr_at_0.1pct_fpr": best["tpr_at_0.1pct_fpr"],
        "lira_online_tpr_at_1pct_fpr": best["tpr_at_1pct_fpr"],
        "loss_auroc": table.loc["loss", "auroc"],
        "loss_tpr_at_0.1pct_fpr": table.loc["loss", "tpr_at_0.1pct_fpr"],
        "attacks": table.drop(
            columns=[c for c in table.columns if c.endswith("_ci")]
        ).to_dict(orient="index"),
        "tpr_at_0.1pct_fpr_top_mem_decile": tpr_top,
        "tpr_at_0.1pct_fpr_rest": tpr_rest,
        "memorization_effect_supported": mem_claim.supported,
        "claims": tested,
        "mem_split_half_r": r_split,
        "n_shadow": n_models,
        "n_examples": n_examples,
        "train_acc": shadow.train_acc.mean(),
        "test_acc": shadow.test_acc.mean(),
        "seconds_training": shadow.seconds_training,
        "config": cfg.to_dict(),
    },
)
