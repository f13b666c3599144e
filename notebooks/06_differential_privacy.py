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
# # Differential privacy: what ε promises and what attacks measure
#
# Differential privacy (DP) is the one defence against membership inference that comes with a proof: an
# (ε, δ)-DP training algorithm bounds the success of *every* attacker. This chapter trains pools of models with
# DP-SGD at several privacy levels and asks three questions of its own runs. How much do the bounds promise at the
# ε values used in practice? How much do real attacks (LiRA) lose against DP models, and at what cost in accuracy?
# And how close does an auditor get to the accountant's ε when the attack is aimed at the examples that a
# non-private model memorizes most?

# %% tags=["parameters"]
dataset = "digits"  # mia_lib.data name (mnist/cifar10 need data_dir)
data_dir = None  # folder with torchvision data, for full-scale runs
model = "mlp"  # mlp, cnn32 or cnn64 (DP-SGD: no BatchNorm)
n_shadow = 128  # models per pool (each example IN for half of them)
epochs = 40  # non-private pool (the no-DP row, chapter 1's pool)
# privacy levels, inf for no DP (on the command line: .inf)
eps_values = [float("inf"), 16.0, 8.0, 4.0, 1.0]
delta = 1e-5  # the δ of every (ε, δ) guarantee
max_grad_norm = 1.0  # DP-SGD clipping norm C
dp_epochs = 20  # DP-SGD recipe (tuned for accuracy at ε of 1 and 4)
dp_batch_size = 256  # expected Poisson batch size
dp_lr = 0.1  # SGD learning rate (momentum 0.9)
n_twins = 4  # models per DP pool retrained alone through Opacus (a check)
n_canaries = 50  # most memorized examples: natural canaries of the audit
alpha = 0.05  # the audit's ε lower bound holds with confidence 1 - alpha
n_queries = 5  # augmented queries per example
seed = 0  # master seed
device = "auto"  # "auto" uses a CUDA GPU when there is one
scheduler = None  # Dask: "local:N" or "tcp://host:8786"; None: here
n_boot = 200  # bootstrap replicates for confidence intervals
quick = False  # CI smoke mode: tiny data, few models, few epochs

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mia_lib import (
    claims,
    config,
    dp,
    memorization,
    metrics,
    plotting,
    pool,
    theory,
)
from mia_lib.attacks import lira
from mia_lib.book import report

plotting.style()
common = dict(
    dataset=dataset,
    data_dir=data_dir,
    model=model,
    n_shadow=n_shadow,
    n_queries=n_queries,
    seed=seed,
    device=device,
    scheduler=scheduler,
)
cfg = config.Experiment(epochs=epochs, **common).quick_if(quick)
cfg_dp = config.Experiment(
    epochs=dp_epochs, batch_size=dp_batch_size, lr=dp_lr, **common
).quick_if(quick)
lira.check_n_shadow(cfg.n_shadow)  # fail now, not after training
eps_values = sorted((float(e) for e in eps_values), reverse=True)
n_boot, n_twins = (
    metrics.n_boot_for(n_boot, quick),
    (2 if quick else n_twins),
)
label = {e: "∞" if math.isinf(e) else f"{e:g}" for e in eps_values}
tested = []  # the claims this chapter tests, for the claims ledger
cfg_dp

# %% [markdown]
# ## What DP promises
#
# A randomized training algorithm $\mathcal{A}$ is $(\varepsilon, \delta)$-differentially private if for every
# pair of *neighbouring* datasets $D, D'$ (one example added or removed) and every set $O$ of outcomes,
# $\Pr[\mathcal{A}(D) \in O] \le e^{\varepsilon} \Pr[\mathcal{A}(D') \in O] + \delta$ (Dwork et al.; Ninghui Li's
# lecture states the pure case, $\delta = 0$). A membership inference attack is a test of exactly this pair of
# hypotheses, "the model was trained on $D$" against "on $D'$", so DP bounds it directly:
#
# - **Yeom et al.**: under a balanced prior an attacker's accuracy is at most $e^{\varepsilon}/2$. This promises
#   nothing once $\varepsilon \ge \ln 2$ ≈ {glue:text}`ln2`, as the Stolen Memories talk points out.
# - **The hypothesis-testing region** (Kairouz et al.): every attack's ROC curve lies below
#   $\mathrm{TPR} \le e^{\varepsilon}\,\mathrm{FPR} + \delta$ and $1 - \mathrm{FPR} \le e^{\varepsilon}(1 -
#   \mathrm{TPR}) + \delta$. Its best balanced accuracy is $e^{\varepsilon}/(1 + e^{\varepsilon})$ when
#   $\delta = 0$, which is tighter than Yeom's bound and stays below 1 for every finite ε.
# - **Membership privacy** (Li et al.): DP is equivalent to bounding the attacker's posterior belief in membership
#   for every prior under which examples are included *independently* (positive membership privacy with
#   $\gamma = e^{\varepsilon}$: posterior $\le \gamma \cdot$ prior). If the examples are correlated, DP promises
#   no such thing.

# %% mystnb={"figure": {"caption": "Largest balanced-prior attack accuracy allowed by ε-DP: Yeom et al.'s bound and the tight bound from the hypothesis-testing region.", "name": "fig-06-accuracy-bounds"}}
grid = np.linspace(0, 5, 501)
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(
    grid, theory.yeom_accuracy_bound(grid), label="Yeom et al.: e^ε / 2"
)
ax.plot(
    grid,
    theory.accuracy_bound(grid),
    label="hypothesis testing: e^ε / (1 + e^ε)",
)
ax.axvline(math.log(2), color="gray", ls=":", lw=1, label="ε = ln 2")
ax.set(xlabel="ε", ylabel="largest attack accuracy", ylim=(0.45, 1.02))
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% mystnb={"figure": {"caption": "The region of the ROC plane that an (ε, δ)-DP algorithm leaves to any attack, for the ε values of this chapter (log-log axes).", "name": "fig-06-dp-region"}}
fpr_grid = np.logspace(-5, 0, 400)
fig, ax = plt.subplots(figsize=(5.5, 5))
for i, e in enumerate(e for e in eps_values if math.isfinite(e)):
    ax.plot(
        fpr_grid,
        np.maximum(theory.tpr_bound(fpr_grid, e, delta), 1e-5),
        color=f"C{i}",
        label=f"ε = {e:g}",
    )
ax.plot(
    [1e-5, 1],
    [1e-5, 1],
    ls="--",
    color="gray",
    lw=1,
    label="chance (ε = 0)",
)
ax.set(
    xscale="log",
    yscale="log",
    xlim=(1e-5, 1),
    ylim=(1e-5, 1.05),
    xlabel="false positive rate",
    ylabel="largest true positive rate",
)
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% mystnb={"figure": {"caption": "Membership privacy: the largest posterior belief in membership after seeing an ε-DP model, by prior (Bayes bound e^ε p / (e^ε p + 1 − p), solid; Li et al.'s γ·prior bound with γ = e^ε, dashed).", "name": "fig-06-posterior"}}
prior = np.linspace(0, 1, 201)
fig, ax = plt.subplots(figsize=(5.5, 4))
for i, e in enumerate((0.1, 0.5, 1.0)):
    ax.plot(
        prior,
        theory.posterior_bound(prior, e),
        color=f"C{i}",
        label=f"ε = {e:g}",
    )
    ax.plot(
        prior,
        theory.posterior_bound(prior, e, kind="pmp"),
        color=f"C{i}",
        ls="--",
    )
ax.plot(prior, prior, color="gray", lw=1, ls=":", label="posterior = prior")
ax.set(
    xlabel="prior probability of membership",
    ylabel="largest posterior",
    ylim=(0, 1.02),
)
ax.legend(fontsize=8)
plt.show()

# %%
eps_demo, e_hi = 1.0, max(e for e in eps_values if math.isfinite(e))
report.glue("eps_demo", eps_demo, "{:g}")
report.glue("yeom_acc_demo", theory.yeom_accuracy_bound(eps_demo), "{:.2f}")
report.glue("tight_acc_demo", theory.accuracy_bound(eps_demo), "{:.3f}")
report.glue(
    "posterior_demo", theory.posterior_bound(0.5, eps_demo), "{:.3f}"
)
report.glue("ln2", math.log(2), "{:.2f}")
report.glue("eps_hi", f"{e_hi:g}")
report.glue("tpr_demo", 0.01, "{:.0%}")
_ = report.glue("fpr_needed_hi", (0.01 - delta) / math.exp(e_hi), "{:.1e}")
# %% [markdown]
# At ε = {glue:text}`eps_demo`, Yeom's bound allows an accuracy of {glue:text}`yeom_acc_demo` (capped at 1: no
# promise at all), while the hypothesis-testing bound still caps it at {glue:text}`tight_acc_demo`; an attacker
# who starts from even odds ends with a posterior of at most {glue:text}`posterior_demo`. For the large ε values
# common in practice these bounds are close to vacuous on average, and the ROC region only bites at low
# false-positive rates: at ε = {glue:text}`eps_hi`, an attack with a TPR of {glue:text}`tpr_demo` must still have an FPR of at least
# {glue:text}`fpr_needed_hi`.
#
# ## DP-SGD pools
#
# DP-SGD (Abadi et al.) makes training (ε, δ)-DP: every step samples a Poisson batch (each example independently
# with probability q), clips every per-example gradient to norm C, adds Gaussian noise of standard deviation σC to
# the sum and takes an SGD step. The accountant turns (q, σ, number of steps) into ε(δ); we pick σ for each target
# ε with Opacus's `get_noise_multiplier` (RDP accountant) and report what both of Opacus's accountants, RDP and
# PRV, say about the resulting run.
#
# Training hundreds of DP models one by one through Opacus would be slow, so `mia_lib.dp` trains a whole pool at
# once with `torch.func` (the models, batches and noise stay independent). A unit test checks that with the noise
# off and the same batches its clipped gradient sums and its parameters equal Opacus's to float tolerance. Each DP
# pool has the same keep matrix and the same initial weights as the non-private pool; only the training algorithm
# differs. The ε = ∞ row is the non-private pool of {doc}`chapter 1 <01_lira_and_memorization>` (plain SGD, no clipping, no noise).

# %%
t0 = time.perf_counter()
pools = {
    e: pool.load_or_train(cfg)
    if math.isinf(e)
    else dp.load_or_train_dp_pool(
        cfg_dp, e, delta, max_grad_norm=max_grad_norm
    )
    for e in eps_values
}
seconds_all = time.perf_counter() - t0
rows = {}
for e, p in pools.items():
    s = getattr(p, "dp", None)
    rows[label[e]] = {
        "sigma": s.noise_multiplier if s else 0.0,
        "q": s.sample_rate if s else np.nan,
        "steps": s.steps if s else np.nan,
        "eps_rdp": s.epsilon_rdp if s else math.inf,
        "eps_prv": s.epsilon_prv if s else math.inf,
        "train_acc": p.train_acc.mean(),
        "test_acc": p.test_acc.mean(),
        "seconds_training": p.seconds_training,
    }
setup = pd.DataFrame(rows).T.rename_axis("ε")
setup.round(4)

# %%
e_lo = min(eps_values)
finite = [e for e in eps_values if math.isfinite(e)]
report.glue("n_shadow", cfg_dp.n_shadow)
report.glue("eps_lo", label[e_lo])
report.glue("sigma_lo", setup.loc[label[e_lo], "sigma"], "{:.2f}")
report.glue("sigma_hi", setup.loc[label[e_hi], "sigma"], "{:.2f}")
report.glue("test_acc_nodp", pools[eps_values[0]].test_acc.mean(), "{:.1%}")
report.glue("test_acc_lo", setup.loc[label[e_lo], "test_acc"], "{:.1%}")
report.glue("test_acc_hi", setup.loc[label[e_hi], "test_acc"], "{:.1%}")
_ = report.glue("seconds_pools", seconds_all, "{:.0f}")
# %% [markdown]
# Every pool has {glue:text}`n_shadow` models. Reaching ε = {glue:text}`eps_hi` needs a noise multiplier of
# σ = {glue:text}`sigma_hi`, and ε = {glue:text}`eps_lo` needs σ = {glue:text}`sigma_lo`. The utility cost is
# steep: mean test accuracy falls from {glue:text}`test_acc_nodp` without DP to {glue:text}`test_acc_hi` at
# ε = {glue:text}`eps_hi` and {glue:text}`test_acc_lo` at ε = {glue:text}`eps_lo`. The PRV accountant, which is
# tighter, certifies a smaller ε than the RDP accountant that σ was chosen with. Loading or training all pools
# took {glue:text}`seconds_pools` seconds in this run.
#
# As a check of the pool trainer against the real thing, we train pool model 0 once more, one model through
# Opacus's `PrivacyEngine` (same initial weights, same training set, same σ, C and recipe), and attack it with LiRA
# using the rest of its pool as shadow models.

# %%
twin_rows = [
    {"ε": label[e], **row}
    for e in finite
    for row in dp.opacus_twin_check(pools[e], range(n_twins))
]
twins = pd.DataFrame(twin_rows).set_index(["ε", "model"])
twins.round(4)

# %%
diff = pd.DataFrame(
    {
        "eps": twins["opacus_eps"] - twins["pool_eps"],
        "acc": twins["opacus_test_acc"] - twins["pool_test_acc"],
        "auroc": twins["opacus_lira_auroc"] - twins["pool_lira_auroc"],
    }
)
se = diff.std() / np.sqrt(len(diff))
agree = bool(
    (diff[["acc", "auroc"]].mean().abs() <= 2 * se[["acc", "auroc"]]).all()
)
report.glue("n_twins", len(diff))
report.glue("twin_eps_gap", diff["eps"].abs().max(), "{:.2g}")
report.glue("twin_acc_diff", diff["acc"].mean(), "{:+.2%}")
report.glue("twin_acc_se", se["acc"], "{:.2%}")
report.glue("twin_auc_diff", diff["auroc"].mean(), "{:+.4f}")
report.glue("twin_auc_se", se["auroc"], "{:.4f}")
_ = report.glue("twin_verdict", "agree" if agree else "differ")
# %% [markdown]
# Opacus's own accountant reports the same ε for its runs as ours does for the pools (largest difference
# {glue:text}`twin_eps_gap`). Over the {glue:text}`n_twins` twins, the Opacus-trained model's test accuracy differs
# from its pool twin's by {glue:text}`twin_acc_diff` on average (standard error {glue:text}`twin_acc_se`) and its
# LiRA AUROC by {glue:text}`twin_auc_diff` (standard error {glue:text}`twin_auc_se`). The two trainers
# {glue:text}`twin_verdict` within two standard errors; they draw different batches and noise, so they can only
# agree in distribution, not bit for bit.
#
# ## Attacks against DP models
#
# We run online LiRA on every pool as in {doc}`chapter 1 <01_lira_and_memorization>`, with the models of the second half of each pool as targets
# (their shadow statistics come from every other model of the same pool). Besides all examples, we look at the
# *most memorized* tenth, chosen by Feldman–Zhang memorization on the **first half of the non-private pool**, so
# the choice never sees the models it is evaluated on.

# %%
base = pools[eps_values[0]]
n_models, n_examples = base.keep.shape
targets = np.arange(n_models // 2, n_models)
mem_sel = memorization.memorization(
    base.correct, base.keep, np.arange(n_models // 2)
)
top = memorization.top_fraction(mem_sel, 0.1)
scores = {
    e: lira.lira_scores(
        p.phi, p.keep, target_ids=targets, variants=["online"]
    )["online"]
    for e, p in pools.items()
}
_ = report.glue("n_top", int(top.sum()))
# %%
att_rows = []
for e, p in pools.items():
    for row in metrics.by_subset(
        scores[e],
        p.keep[targets],
        {"all": np.ones(n_examples, bool), "most memorized": top},
        n_boot=n_boot,
        seed=seed,
    ):
        att_rows.append(
            {
                "ε": label[e],
                **row,
                "accuracy_bound": theory.accuracy_bound(
                    rows[label[e]]["eps_rdp"], delta
                ),
                "attack_accuracy": (1 + row["advantage"]) / 2,
            }
        )
attacks_df = pd.DataFrame(att_rows).set_index(["ε", "subset"])
report.ci_table(
    attacks_df,
    measures=("auroc", "tpr_at_0.1pct_fpr"),
    keep=("attack_accuracy", "accuracy_bound"),
)

# %%
auc = attacks_df["auroc"].unstack()
tpr = attacks_df["tpr_at_0.1pct_fpr"].unstack()
nodp = label[eps_values[0]]
bounds = [
    claims.at_most(
        metrics.Interval(*((1 + v) / 2 for v in row["advantage_ci"])),
        row["accuracy_bound"],
        f"attack accuracy at ε = {key[0]} ({key[1]})",
    )
    for key, row in attacks_df.iterrows()
    if key[0] != nodp
]
within = claims.all_of(bounds, "attack accuracy against its DP bound")
report.glue("auroc_nodp", auc.loc[nodp, "all"], "{:.3f}")
report.glue("auroc_hi", auc.loc[label[e_hi], "all"], "{:.3f}")
report.glue("auroc_lo", auc.loc[label[e_lo], "all"], "{:.3f}")
report.glue("auroc_top_nodp", auc.loc[nodp, "most memorized"], "{:.3f}")
report.glue(
    "auroc_top_hi", auc.loc[label[e_hi], "most memorized"], "{:.3f}"
)
report.glue("tpr_top_nodp", tpr.loc[nodp, "most memorized"], "{:.3f}")
report.glue("tpr_top_hi", tpr.loc[label[e_hi], "most memorized"], "{:.3f}")
report.glue_verdict(
    "within_verdict",
    within,
    yes="lies within",
    no="violates",
    unsure="is not clearly within",
)

# %% [markdown]
# Without DP, LiRA reaches an AUROC of {glue:text}`auroc_nodp` on all examples and {glue:text}`auroc_top_nodp` on
# the {glue:text}`n_top` most memorized ones (TPR {glue:text}`tpr_top_nodp` at 0.1% FPR). At
# ε = {glue:text}`eps_hi` the AUROC is {glue:text}`auroc_hi` ({glue:text}`auroc_top_hi` and TPR
# {glue:text}`tpr_top_hi` on the most memorized), at ε = {glue:text}`eps_lo` it is {glue:text}`auroc_lo`. Every
# measured attack accuracy (the best balanced accuracy over thresholds, upper end of its 95% interval)
# {glue:text}`within_verdict` the tight hypothesis-testing bound of its pool's accountant ε. The ROC curves below
# show where the attacks sit inside each pool's DP region.

# %% mystnb={"figure": {"caption": "LiRA ROC curves (log-log) on every pool, all examples and the most memorized tenth, against the boundary of the (ε, δ)-DP region (black).", "name": "fig-06-roc"}}
fig, axes = plt.subplots(
    1, len(eps_values), figsize=(4.2 * len(eps_values), 4.2), squeeze=False
)
n_out = int((~pools[eps_values[0]].keep[targets][:, top]).sum())
for ax, e in zip(axes[0], eps_values):
    member = pools[e].keep[targets]
    plotting.roc_loglog(
        ax,
        {
            "all": (scores[e], member),
            "most memorized": (scores[e][:, top], member[:, top]),
        },
        n_min=n_out,
    )
    if math.isfinite(e):
        ax.plot(
            fpr_grid,
            np.maximum(theory.tpr_bound(fpr_grid, e, delta), 1e-5),
            color="black",
            lw=1.5,
        )
    ax.text(0.03, 0.95, f"ε = {label[e]}", transform=ax.transAxes, va="top")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Noise or recipe? The clip-only twin
#
# The DP pools differ from the non-private one in two ways: the noise the accountant is paid for, and the DP-SGD
# recipe itself (clipping every example's gradient, Poisson batches of {glue:text}`dp_batch_size_`, fewer epochs).
# To attribute an effect to DP we need a comparison that isolates the noise: a pool trained with the **same recipe
# and no noise** (σ = 0, hence no privacy guarantee at all), the *clip-only twin*. Every pool has the same keep
# matrix and the same initial weights, so each comparison below is paired: the bootstrap resamples the same
# examples for both pools, and the interval is that of the difference. The recipe's own effect (twin against the
# ordinary pool) is a separate row.

# %%
report.glue("dp_batch_size_", cfg_dp.batch_size)
twin = dp.load_or_train_dp_pool(
    cfg_dp, math.inf, delta, max_grad_norm=max_grad_norm
)
if not all((p.keep == twin.keep).all() for p in pools.values()):
    raise RuntimeError("the pools must share one keep matrix to be paired")
s_twin = lira.lira_scores(
    twin.phi, twin.keep, target_ids=targets, variants=["online"]
)["online"]
member = twin.keep[targets]
pairs_ = {"recipe: clip-only twin − no DP": (s_twin, scores[eps_values[0]])}
for e in finite:
    pairs_[f"noise: ε = {label[e]} − clip-only twin"] = (scores[e], s_twin)
effects = {
    (name, measure): metrics.bootstrap_diff(
        (a, member), (b, member), measure, n_boot, seed=seed
    )
    for name, (a, b) in pairs_.items()
    for measure in ("auroc", "tpr_at_0.1pct_fpr")
}
twin_auc = metrics.auroc(s_twin, member)
margin = 0.2 * (twin_auc - 0.5)
noise_lo = effects[(f"noise: ε = {label[e_lo]} − clip-only twin", "auroc")]
noise_hi = effects[(f"noise: ε = {label[e_hi]} − clip-only twin", "auroc")]
blunted = claims.less(
    noise_lo, f"AUROC, ε = {label[e_lo]} − clip-only twin"
)
little = claims.equivalent(
    noise_hi, margin, f"AUROC, ε = {label[e_hi]} − clip-only twin"
)
setting = f"{cfg.dataset}, {cfg.model}, {cfg_dp.n_shadow} models per pool"
tested += [
    claims.record(
        "A small ε blunts the attack (against the same recipe, no noise)",
        "Ninghui Li's lecture (DP-SGD as a defense); Why Train More? §8",
        blunted,
        f"{setting}, ε = {label[e_lo]}",
        "06_differential_privacy",
    ),
    claims.record(
        "A large ε gives little protection: the attack stays about as "
        "strong as without the noise",
        "Stolen Memories (ε = 16 performs comparably to no defense); "
        "Ninghui Li's lecture (noise only for very large ε)",
        little,
        f"{setting}, ε = {label[e_hi]}, margin: 20% of the twin's gain",
        "06_differential_privacy",
    ),
]
report.glue("clip_test_acc", twin.test_acc.mean(), "{:.1%}")
report.glue("clip_auroc", twin_auc, "{:.3f}")
report.glue(
    "clip_auroc_top",
    metrics.auroc(s_twin[:, top], member[:, top]),
    "{:.3f}",
)
report.glue(
    "recipe_effect",
    effects[("recipe: clip-only twin − no DP", "auroc")].text(),
)
report.glue("margin", margin, "{:.3f}")
report.glue_verdict("blunted_verdict", blunted)
report.glue_verdict("large_eps_verdict", little)
pd.DataFrame(
    {
        name: {
            m: effects[(name, m)].text()
            for m in ("auroc", "tpr_at_0.1pct_fpr")
        }
        for name in pairs_
    }
).T.rename_axis("difference in attack success")

# %% [markdown]
# Without noise, the DP-SGD recipe reaches a test accuracy of {glue:text}`clip_test_acc` and LiRA an AUROC of
# {glue:text}`clip_auroc` ({glue:text}`clip_auroc_top` on the most memorized examples); the recipe alone changes
# LiRA's AUROC by {glue:text}`recipe_effect` against the ordinary pool. That part of the difference between the
# non-private and the DP pools is not the accountant's doing.
#
# Against its own recipe, this run {glue:text}`blunted_verdict` the claim that a small ε blunts the attack
# (supported when the AUROC difference between the ε = {glue:text}`eps_lo` pool and the clip-only twin lies below
# zero: {glue:text}`blunted_verdict_stat`). It {glue:text}`large_eps_verdict` the claim that a large ε gives
# little protection: "about as strong" needs a stated margin, and we hold the difference at ε =
# {glue:text}`eps_hi` against ±{glue:text}`margin` AUROC (20% of the twin's gain over chance); the claim is
# supported only when the whole interval lies inside it, not supported when it lies outside, and inconclusive
# otherwise ({glue:text}`large_eps_verdict_stat`).
#
# ## Memorization under DP
#
# *Why Train More?* (§8, Figure 4) observes that DP-SGD suppresses memorization: with DP, the examples that are
# memorized without it are not memorized any more. The same keep matrix gives every pool's memorization for free,
# and the clip-only twin again separates the noise from the recipe.

# %%
mem = {
    e: memorization.memorization(p.correct, p.keep)
    for e, p in pools.items()
}
mem_twin = memorization.memorization(twin.correct, twin.keep)
mem_tab = pd.DataFrame(
    {
        **{
            label[e]: {
                "mem_mean": np.nanmean(m),
                "share_above_0.1": np.mean(m > 0.1),
                "share_above_0.5": np.mean(m > 0.5),
                "mean_on_most_memorized": np.nanmean(m[top]),
            }
            for e, m in mem.items()
        },
        "clip-only twin": {
            "mem_mean": np.nanmean(mem_twin),
            "share_above_0.1": np.mean(mem_twin > 0.1),
            "share_above_0.5": np.mean(mem_twin > 0.5),
            "mean_on_most_memorized": np.nanmean(mem_twin[top]),
        },
    }
).T.rename_axis("ε")
mem_noise = {
    e: metrics.mean_diff(mem[e][top], mem_twin[top], n_boot, seed=seed)
    for e in finite
}
suppressed = claims.all_of(
    [
        claims.less(d, f"mean memorization, ε = {label[e]} − twin")
        for e, d in mem_noise.items()
    ],
    "mean memorization of the most memorized tenth, DP − clip-only twin",
)
tested.append(
    claims.record(
        "DP-SGD suppresses memorization (against the same recipe without "
        "noise)",
        "Why Train More? §8 (Figure 4)",
        suppressed,
        f"{setting}, every ε of the run, the most memorized tenth",
        "06_differential_privacy",
    )
)
for key, value in (
    ("mem_top_nodp", mem_tab.loc[nodp, "mean_on_most_memorized"]),
    (
        "mem_top_twin",
        mem_tab.loc["clip-only twin", "mean_on_most_memorized"],
    ),
    ("mem_top_hi", mem_tab.loc[label[e_hi], "mean_on_most_memorized"]),
    ("mem_top_lo", mem_tab.loc[label[e_lo], "mean_on_most_memorized"]),
):
    report.glue(key, value, "{:.3f}")
report.glue(
    "mem_recipe",
    metrics.mean_diff(
        mem_twin[top], mem[eps_values[0]][top], n_boot
    ).text(),
)
report.glue_verdict(
    "mem_verdict",
    suppressed,
    yes="suppresses",
    no="does not suppress",
    unsure="does not detectably suppress",
)
mem_tab.round(4)

# %% mystnb={"figure": {"caption": "Memorization of every example in each pool (log count axis); dashed: the clip-only twin.", "name": "fig-06-mem-hist"}}
fig, ax = plt.subplots(figsize=(6.5, 3.8))
bins = np.linspace(-0.3, 1, 53)
for i, (e, m) in enumerate(mem.items()):
    ax.hist(
        m[np.isfinite(m)],
        bins=bins,
        histtype="step",
        lw=1.8,
        color=f"C{i}",
        label=f"ε = {label[e]}",
    )
ax.hist(
    mem_twin[np.isfinite(mem_twin)],
    bins=bins,
    histtype="step",
    ls="--",
    color="gray",
    label="clip-only twin",
)
ax.set(yscale="log", xlabel="memorization", ylabel="examples")
ax.legend(fontsize=8)
plt.show()

# %%
rest = ~top
attacks_on = {
    (who, part): metrics.WeightedAttack(s_, member, cols)
    for who, s_ in (("dp", scores[e_lo]), ("twin", s_twin))
    for part, cols in (("top", top), ("rest", rest))
}
edge_loss = metrics.paired_bootstrap(
    lambda w: (
        attacks_on[("dp", "top")].measure("auroc", w)
        - attacks_on[("dp", "rest")].measure("auroc", w)
    )
    - (
        attacks_on[("twin", "top")].measure("auroc", w)
        - attacks_on[("twin", "rest")].measure("auroc", w)
    ),
    n_examples,
    n_boot,
    seed=seed,
)
edge = {
    name: metrics.subset_diff(
        s_, member, top, rest, "auroc", n_boot, seed=seed
    )
    for name, s_ in (
        ("no DP", scores[eps_values[0]]),
        ("clip-only twin", s_twin),
        (f"ε = {label[e_lo]}", scores[e_lo]),
    )
}
lost_edge = claims.less(
    edge_loss, "AUROC edge of the most memorized tenth, DP − clip-only twin"
)
tested.append(
    claims.record(
        "Under strong DP the memorization-guided attack loses its edge",
        "Why Train More? §8",
        lost_edge,
        f"{setting}, ε = {label[e_lo]}",
        "06_differential_privacy",
    )
)
report.glue("edge_nodp", edge["no DP"].text())
report.glue("edge_twin", edge["clip-only twin"].text())
report.glue("edge_lo", edge[f"ε = {label[e_lo]}"].text())
report.glue_verdict("edge_verdict", lost_edge)
# %% [markdown]
# The examples that the non-private models memorize most have a mean memorization of {glue:text}`mem_top_nodp`
# there, {glue:text}`mem_top_twin` under the clip-only twin (the recipe's own effect on them is
# {glue:text}`mem_recipe`), {glue:text}`mem_top_hi` under ε = {glue:text}`eps_hi` and {glue:text}`mem_top_lo`
# under ε = {glue:text}`eps_lo`. Against the twin, DP {glue:text}`mem_verdict` memorization at every ε of this run
# (supported when, at every ε, the paired interval of the difference in their mean memorization lies below zero;
# the weakest case is {glue:text}`mem_verdict_stat`).
#
# Aiming the attack at them gains {glue:text}`edge_nodp` AUROC over the rest of the examples without DP,
# {glue:text}`edge_twin` under the twin and {glue:text}`edge_lo` at ε = {glue:text}`eps_lo`. This run
# {glue:text}`edge_verdict` the claim that the memorization-guided attack loses its edge under strong DP (supported
# when the edge at ε = {glue:text}`eps_lo` is detectably smaller than the twin's, both measured on the same
# resampled examples: {glue:text}`edge_verdict_stat`).
#
# ## Auditing: accountant ε against attack-measured ε̂
#
# The accountant's ε is an **upper bound** on the privacy loss. An attack gives a **lower bound**: if some test
# reaches a TPR and FPR outside the DP region of ε, the algorithm cannot be ε-DP. `metrics.epsilon_lower_bound`
# turns an attack's outcomes into
# $\hat\varepsilon = \max_t \log\frac{\mathrm{TPR}_{lb}(t) - \delta}{\mathrm{FPR}_{ub}(t)}$ (and the same for the
# non-member side, the second inequality of the region), with one-sided Clopper–Pearson bounds corrected for the
# number of thresholds tried, so that ε̂ is a lower bound with confidence 1 − α. Each (target model, example) pair
# is one trial; pooling several examples per model assumes the trials are independent, the usual heuristic.
#
# An auditor wants trials where the algorithm leaks most. Instead of inserting artificial canaries, we use the
# `n_canaries` examples with the highest memorization on the first half of the non-private pool as *natural
# canaries*, and the same number of random examples for contrast.

# %%
n_can = min(n_canaries, n_examples // 4)
canaries = memorization.most_memorized(mem_sel, n_can)
rand = np.random.default_rng(seed).choice(n_examples, n_can, replace=False)
audit_rows = {}
for e, p in pools.items():
    member = p.keep[targets]
    hat = {
        name: metrics.epsilon_lower_bound(
            scores[e][:, idx], member[:, idx], delta=delta, alpha=alpha
        )
        for name, idx in (("canaries", canaries), ("random", rand))
    }
    audit_rows[label[e]] = {
        "eps_accountant": rows[label[e]]["eps_rdp"],
        "eps_prv": rows[label[e]]["eps_prv"],
        "eps_hat_canaries": hat["canaries"]["eps_lower"],
        "eps_hat_random": hat["random"]["eps_lower"],
        "trials": member[:, canaries].size,
    }
audit = pd.DataFrame(audit_rows).T.rename_axis("ε")
audit.round(3)

# %% mystnb={"figure": {"caption": "Privacy audit: the accountant's ε (upper bound) and the attack-measured ε̂ (lower bound, 95% confidence) on natural canaries and on random examples.", "name": "fig-06-audit"}}
fig, ax = plt.subplots(figsize=(6, 3.8))
x = np.arange(len(audit))
ub = audit["eps_accountant"].astype(float).to_numpy()
ax.scatter(
    x[np.isfinite(ub)],
    ub[np.isfinite(ub)],
    marker="v",
    s=80,
    color="black",
    label="accountant ε (upper)",
)
ax.scatter(
    x - 0.1,
    audit["eps_hat_canaries"],
    marker="^",
    s=60,
    color="C3",
    label="ε̂, most memorized (lower)",
)
ax.scatter(
    x + 0.1,
    audit["eps_hat_random"],
    marker="^",
    s=60,
    color="C0",
    label="ε̂, random examples (lower)",
)
ax.set_xticks(x, [f"ε = {i}" for i in audit.index])
ax.set(
    ylabel="ε",
    yscale="symlog",
    xlabel="pool",
    ylim=(-0.05, 3 * max(ub[np.isfinite(ub)].max(initial=1), 1)),
)
ax.legend(fontsize=8)
plt.show()

# %%
fin = audit.loc[[label[e] for e in finite]]
consistent = claims.holds(
    bool(
        (fin["eps_hat_canaries"] <= fin["eps_accountant"]).all()
        and (fin["eps_hat_random"] <= fin["eps_accountant"]).all()
    ),
    "largest audit ε̂ minus the accountant's ε",
    float(
        (
            fin[["eps_hat_canaries", "eps_hat_random"]].max(axis=1)
            - fin["eps_accountant"]
        ).max()
    ),
)
gains = {
    e: metrics.epsilon_gain(
        scores[e],
        pools[e].keep[targets],
        canaries,
        rand,
        delta,
        alpha,
        n_boot,
        seed=seed,
    )
    for e in finite
}
per_pool = [
    claims.Verdict(
        claims.INCONCLUSIVE, "ε̂ gain (both ε̂ are 0)", 0.0, (0.0, 0.0)
    )
    if tuple(g) == (0.0, 0.0, 0.0)
    else claims.greater(g, f"ε̂(canaries) − ε̂(random), ε = {label[e]}")
    for e, g in gains.items()
]
look_here = claims.some_of(
    per_pool, "ε̂(canaries) − ε̂(random) on the finite-ε pools (best pool)"
)
tested.append(
    claims.record(
        "Memorization tells the auditor where to look: natural canaries "
        "certify a larger ε̂ than random examples",
        "Why Train More? §8 (memorized examples as natural canaries)",
        look_here,
        f"{setting}, finite-ε pools, {n_can} canaries",
        "06_differential_privacy",
    )
)
audit["eps_hat_gain"] = pd.Series(
    {label[e]: g.text("{:.2f}") for e, g in gains.items()}
)
report.glue(
    "eps_hat_nodp",
    audit.loc[label[eps_values[0]], "eps_hat_canaries"],
    "{:.2f}",
)
report.glue(
    "eps_hat_rand_nodp",
    audit.loc[label[eps_values[0]], "eps_hat_random"],
    "{:.2f}",
)
report.glue(
    "eps_hat_hi", audit.loc[label[e_hi], "eps_hat_canaries"], "{:.2f}"
)
report.glue(
    "eps_acc_hi", audit.loc[label[e_hi], "eps_accountant"], "{:.2f}"
)
report.glue(
    "eps_hat_lo", audit.loc[label[e_lo], "eps_hat_canaries"], "{:.2f}"
)
report.glue_verdict("audit_consistent", consistent, yes="is", no="is not")
report.glue_verdict("look_verdict", look_here, fmt="{:.2f}")
_ = report.glue("confidence", 1 - alpha, "{:.0%}")
# %% [markdown]
# On the non-private pool, the natural canaries certify that training is not ε-DP for any ε below
# {glue:text}`eps_hat_nodp` ({glue:text}`confidence` confidence); random examples certify only
# {glue:text}`eps_hat_rand_nodp`. At ε = {glue:text}`eps_hi` the accountant promises {glue:text}`eps_acc_hi` and
# the audit measures {glue:text}`eps_hat_hi`; at ε = {glue:text}`eps_lo` the audit measures
# {glue:text}`eps_hat_lo`. The audit {glue:text}`audit_consistent` consistent with every accountant ε (no lower
# bound above its upper bound), and the gap between the two shows how conservative the accountant is for natural
# data, or how far from optimal the attack is: the accountant must cover the worst possible example and the worst
# possible dataset, while the audit measures one attack on these examples. This run
# {glue:text}`look_verdict` the claim that memorization tells the auditor where to look. Only the finite-ε pools
# count (the non-private pool has no guarantee to audit), and a gain needs an interval: per pool, the bootstrap
# interval of ε̂(canaries) − ε̂(random) (resampling each set's examples); a pool where both ε̂ are 0 in every
# replicate cannot tell, and counts as inconclusive. The claim is supported when some pool shows a gain and none a
# loss ({glue:text}`look_verdict_stat`).

# %% [markdown]
# ## Exercises
#
# The solutions reuse this chapter's pools (no training) and are folded away: try first, then open them.
#
# **Exercise 6.1 (what an average certifies).** Take the best balanced attack accuracy that LiRA reaches on all
# examples of the non-private pool. For which ε would Yeom's bound, and the tight hypothesis-testing bound,
# still allow it? Compare with the audit's ε̂ on the natural canaries.

# %% tags=["hide-input"]
ex1_acc = attacks_df.loc[(nodp, "all"), "attack_accuracy"]
report.glue("ex1_acc", ex1_acc, "{:.3f}")
report.glue("ex1_eps_yeom", max(math.log(2 * ex1_acc), 0.0), "{:.2f}")
_ = report.glue(
    "ex1_eps_tight", max(math.log(ex1_acc / (1 - ex1_acc)), 0.0), "{:.2f}"
)

# %% [markdown]
# ```{dropdown} Solution
# Without DP, LiRA's best balanced accuracy on all examples is {glue:text}`ex1_acc`. Yeom's bound
# $e^\varepsilon/2$ allows it from ε = {glue:text}`ex1_eps_yeom` on, the tight bound
# $e^\varepsilon/(1+e^\varepsilon)$ from ε = {glue:text}`ex1_eps_tight` on: an attack judged by its accuracy
# over all examples could only prove that the training is not ε-DP for ε below these. The audit on natural
# canaries, which looks at low false-positive rates on the examples that leak most, certifies
# {glue:text}`eps_hat_nodp`. Average accuracy is the wrong lens for privacy, both for attacks and for audits.
# ```
#
# **Exercise 6.2 (how many canaries?).** The audit uses the {glue:text}`ex2_n_can` most memorized examples.
# Audit the non-private pool with a quarter as many and with twice as many canaries. Why is more not always
# better?

# %% tags=["hide-input"]
ex2_most = min(2 * n_can, n_examples)
ex2_sizes = sorted({max(n_can // 4, 1), n_can, ex2_most})
ex2_member = base.keep[targets]
ex2_hat = {
    m: metrics.epsilon_lower_bound(
        scores[eps_values[0]][:, ex2_idx],
        ex2_member[:, ex2_idx],
        delta=delta,
        alpha=alpha,
    )["eps_lower"]
    for m in ex2_sizes
    for ex2_idx in [memorization.most_memorized(mem_sel, m)]
}
ex2_best = max(ex2_hat, key=ex2_hat.get)
report.glue(
    "ex2_best",
    f"The largest ε̂ comes from {ex2_best} canaries."
    if ex2_hat[ex2_best] > 0
    else "None of them certifies a positive ε̂ in this run.",
)
report.glue("ex2_n_can", n_can)
_ = report.glue(
    "ex2_hat",
    "; ".join(f"{m} canaries: ε̂ = {e:.2f}" for m, e in ex2_hat.items()),
)

# %% [markdown]
# ```{dropdown} Solution
# On the non-private pool: {glue:text}`ex2_hat`. Each canary adds trials (one per target model), which tightens
# the Clopper–Pearson bounds, but the canaries are ranked by memorization, so every added one leaks less than the
# ones before it. Few canaries give loose bounds on a strong signal, many give tight bounds on a diluted one.
# {glue:text}`ex2_best`
# ```

# %% [markdown]
# ## Summary
#
# - ε-DP bounds every membership inference attack, but at the ε values used in practice Yeom's accuracy bound is
#   vacuous (above ε = {glue:text}`ln2`); the hypothesis-testing region is the bound that still says something,
#   mostly at low false-positive rates.
# - DP-SGD costs accuracy: from {glue:text}`test_acc_nodp` without DP to {glue:text}`test_acc_hi` at
#   ε = {glue:text}`eps_hi` and {glue:text}`test_acc_lo` at ε = {glue:text}`eps_lo`, while the LiRA AUROC falls
#   from {glue:text}`auroc_nodp` to {glue:text}`auroc_hi` and {glue:text}`auroc_lo`.
#   The noise alone (against a clip-only twin trained with the same recipe): this run {glue:text}`blunted_verdict`
#   the claim that a small ε blunts the attack and {glue:text}`large_eps_verdict` the claim that a large ε gives
#   little protection; the recipe itself changes the AUROC by {glue:text}`recipe_effect`.
# - Against the twin, DP {glue:text}`mem_verdict` memorization at every ε tried: on the most memorized examples it
#   goes from {glue:text}`mem_top_twin` under the twin to {glue:text}`mem_top_hi` at ε = {glue:text}`eps_hi`. The
#   run {glue:text}`edge_verdict` the claim that the memorization-guided attack loses its edge under strong DP.
# - Natural canaries chosen by memorization give an audit ε̂ of {glue:text}`eps_hat_nodp` without DP against
#   {glue:text}`eps_hat_rand_nodp` for random examples, and {glue:text}`eps_hat_hi` against the accountant's
#   {glue:text}`eps_acc_hi` at ε = {glue:text}`eps_hi`: the accountant is an upper bound, the audit a lower bound,
#   and the truth lies between.
#
# Re-run at full scale on a GPU with, e.g.,
# `python -m mia_lib run notebooks/06_differential_privacy.py -p dataset cifar10 -p data_dir DATA -p model cnn32
# -p n_shadow 256 -p dp_epochs 30 -p dp_batch_size 512`.

# %% tags=["remove-input"]
_ = report.save_results(
    "06_differential_privacy",
    {
        "headline": [
            report.headline(
                "LiRA AUROC without DP",
                auc.loc[nodp, "all"],
                section="Attacks against DP models",
            ),
            report.headline(
                f"AUROC change from the noise at ε = {label[e_lo]} "
                "(vs clip-only twin)",
                noise_lo,
                section="Noise or recipe? The clip-only twin",
            ),
            report.headline(
                f"AUROC change from the noise at ε = {label[e_hi]} "
                "(vs clip-only twin)",
                noise_hi,
                section="Noise or recipe? The clip-only twin",
            ),
            report.headline(
                "audit ε̂ on natural canaries, no DP (95% lower bound)",
                audit.loc[nodp, "eps_hat_canaries"],
                "{:.2f}",
                "Auditing",
            ),
        ],
        "per_epsilon": {
            label[e].replace("∞", "inf"): {
                "test_acc": rows[label[e]]["test_acc"],
                "train_acc": rows[label[e]]["train_acc"],
                "lira_auroc": auc.loc[label[e], "all"],
                "lira_tpr_at_0.1pct": tpr.loc[label[e], "all"],
                "lira_auroc_most_memorized": auc.loc[
                    label[e], "most memorized"
                ],
                "lira_tpr_at_0.1pct_most_memorized": tpr.loc[
                    label[e], "most memorized"
                ],
                "eps_hat_lower": audit.loc[label[e], "eps_hat_canaries"],
                "eps_hat_lower_random": audit.loc[
                    label[e], "eps_hat_random"
                ],
                "eps_accountant_rdp": rows[label[e]]["eps_rdp"],
                "eps_accountant_prv": rows[label[e]]["eps_prv"],
                "noise_multiplier": rows[label[e]]["sigma"],
                "mem_mean": mem_tab.loc[label[e], "mem_mean"],
                "mem_mean_most_memorized": mem_tab.loc[
                    label[e], "mean_on_most_memorized"
                ],
            }
            for e in eps_values
        },
        "delta": delta,
        "audit_confidence": 1 - alpha,
        "audit_consistent": consistent.verdict,
        "memorization_guides_audit": look_here.verdict,
        "small_eps_blunts_attack": blunted.verdict,
        "large_eps_little_protection": little.verdict,
        "memorized_edge_lost_at_small_eps": lost_edge.verdict,
        "dp_suppresses_memorization": suppressed.verdict,
        "effects_vs_clip_only_twin": {
            f"{name} | {m}": d for (name, m), d in effects.items()
        },
        "claims": tested,
        "opacus_twins": {
            "n": len(diff),
            "mean_test_acc_diff": diff["acc"].mean(),
            "mean_lira_auroc_diff": diff["auroc"].mean(),
            "max_eps_diff": diff["eps"].abs().max(),
            "agree": agree,
        },
        "clip_only": {
            "test_acc": twin.test_acc.mean(),
            "lira_auroc": twin_auc,
            "mem_mean_most_memorized": float(np.nanmean(mem_twin[top])),
        },
        "seconds_pools": seconds_all,
        "config": cfg.to_dict(),
        "config_dp": cfg_dp.to_dict(),
    },
)
