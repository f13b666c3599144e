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
# # Auditing DP-SGD: one training run against many, and the whole trade-off curve
#
# {doc}`Chapter 6 <06_differential_privacy>` audited DP-SGD the classic way: train a pool of models, attack them,
# and turn the attack's true and false positive rates over the whole pool into a lower bound ε̂ on the privacy
# loss. Two ideas from the auditing literature change that picture. Steinke, Nasr & Jagielski (NeurIPS 2023) showed
# that **one training run** is enough for a valid audit: plant many canaries, include each at random, and count how
# many of them one model gives away. And f-DP (Dong, Roth & Su) describes a guarantee not by one (ε, δ) pair but by
# the **whole trade-off curve** between an attack's two errors; DP-SGD is close to *Gaussian* DP, one number μ. This
# chapter audits chapter 6's DP-SGD pools both ways, with three kinds of canaries: random examples, the examples a
# non-private model memorizes most (natural canaries) and mislabeled examples (the auditing literature's artificial
# canaries), and puts every audit next to the accountant's ε and what it cost in trained models.

# %% tags=["parameters"]
dataset = "digits"  # mia_lib.data name (mnist/cifar10 need data_dir)
data_dir = None  # folder with torchvision data, for full-scale runs
model = "mlp"  # mlp, cnn32 or cnn64 (DP-SGD: no BatchNorm)
n_shadow = 128  # models per pool (chapter 6's pools, from the cache)
epochs = 40  # non-private pool (the no-DP row)
# privacy levels, inf for no DP (on the command line: .inf)
eps_values = [float("inf"), 16.0, 8.0, 4.0, 1.0]
delta = 1e-5  # the δ of every (ε, δ) guarantee
max_grad_norm = 1.0  # DP-SGD clipping norm C
dp_epochs = 20  # DP-SGD recipe (chapter 6's)
dp_batch_size = 256  # expected Poisson batch size
dp_lr = 0.1  # SGD learning rate (momentum 0.9)
n_queries = 5  # augmented queries per example
n_canaries = 50  # canaries per audit (chapter 6's natural canaries too)
guess_fractions = [0.1, 0.2]  # one-run guesses k+, k- as shares of m
n_mislabeled = 16  # models per ε trained with mislabeled canaries
alpha = 0.05  # every audit holds with confidence 1 - alpha
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
)
from mia_lib.attacks import lira
from mia_lib.book import report
from mia_lib.dp import audit

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
dp_recipe = dict(epochs=dp_epochs, batch_size=dp_batch_size, lr=dp_lr)
cfg_dp = config.Experiment(**dp_recipe, **common).quick_if(quick)
lira.check_n_shadow(cfg.n_shadow)  # fail now, not after training
eps_values = sorted((float(e) for e in eps_values), reverse=True)
n_boot = metrics.n_boot_for(n_boot, quick)
label = {e: "∞" if math.isinf(e) else f"{e:g}" for e in eps_values}
finite = [e for e in eps_values if math.isfinite(e)]
tested = []  # the claims this chapter tests, for the claims ledger
cfg_dp

# %% [markdown]
# ## One run, many canaries
#
# In a one-run audit the auditor plants m canaries and includes each one in the training set independently with
# probability ½. After training it scores every canary (higher = more likely a member), guesses "member" for the
# $k_+$ highest scores and "non-member" for the $k_-$ lowest, and abstains on the rest. If training is ε-DP, one
# guess is right with probability at most $q = e^\varepsilon / (1 + e^\varepsilon)$, the accuracy of randomized
# response. Steinke et al. prove that this holds for all the guesses *together*, although they come from one
# model: the number $W$ of correct guesses among $r = k_+ + k_-$ is dominated by a binomial,
#
# $$\Pr[W \ge v] \;\le\; \Pr[\mathrm{Binomial}(r, q) \ge v],$$
#
# and for (ε, δ)-DP a term $2 m \delta \max_{i} \Pr[v > \mathrm{Binomial}(r, q) \ge v - i] / i$ is added (their
# approximate-DP theorem; `audit.one_run_p_value` computes it as the code in their appendix does). The audit's ε̂
# is the largest ε under which seeing $v$ or more correct guesses still has probability below α: every smaller ε is
# rejected with confidence 1 − α (`audit.one_run_epsilon`). The number of guesses caps what one run can certify:
# even when every guess is right, $\hat\varepsilon = \log\frac{q}{1 - q}$ with $q = \alpha^{1/r}$.

# %% mystnb={"figure": {"caption": "The one-run audit's ε̂ (95% confidence) as a function of the share of correct guesses, for r guesses: one run certifies a large ε only with many guesses, nearly all of them right.", "name": "fig-09-one-run-bound"}}
share_grid = np.linspace(0.5, 1, 51)
fig, ax = plt.subplots(figsize=(6, 3.8))
for r in (10, 20, 100, 1000):
    ax.plot(
        share_grid,
        [
            audit.one_run_epsilon(r, r, int(round(s * r)), delta, alpha)
            for s in share_grid
        ],
        label=f"r = {r} guesses",
    )
ax.set(xlabel="share of correct guesses", ylabel="one-run ε̂")
ax.legend(fontsize=8)
plt.show()

# %%
r_small, r_big = 10, 1000
report.glue("confidence", 1 - alpha, "{:.0%}")
report.glue("alpha_pct", alpha, "{:.0%}")
report.glue("r_small", r_small)
report.glue("r_big", f"{r_big:,}")
report.glue(
    "cap_r10",
    audit.one_run_epsilon(r_small, r_small, r_small, delta, alpha),
    "{:.2f}",
)
_ = report.glue(
    "cap_r1000",
    audit.one_run_epsilon(r_big, r_big, r_big, delta, alpha),
    "{:.2f}",
)
# %% [markdown]
# {glue:text}`r_small` guesses, all of them right, certify only ε̂ = {glue:text}`cap_r10`; {glue:text}`r_big`
# certify {glue:text}`cap_r1000` ({glue:text}`confidence` confidence). A one-run audit of a model trained with a
# large ε can only come close to it with a great many canaries that the model gives away almost without error.
#
# ## The book's pools are one-run audits already
#
# Every model of chapter 6's pools trained on a random half of the data, and each column of the balanced keep
# matrix picks its models independently of the other columns, so one model's row includes each example
# independently with probability ½. **Every model is one training run** whose examples were randomized exactly as a
# one-run audit needs, and a pool of K models is K one-run audits side by side: their spread shows how much one
# run's verdict owes to luck. The pools are chapter 6's (same experiment, same DP settings, hence the same cache
# entries). Next to the RDP and PRV accountants of chapter 6 the table gives the accountant's μ of Gaussian DP
# (below) and the ε that this μ implies at δ.

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
seconds_pools = time.perf_counter() - t0
acct = {}
for e, p in pools.items():
    s = p.dp
    mu = (
        audit.gdp_mu(s.noise_multiplier, s.sample_rate, s.steps)
        if s
        else math.inf
    )
    acct[e] = {
        "sigma": s.noise_multiplier if s else 0.0,
        "q": s.sample_rate if s else np.nan,
        "steps": s.steps if s else np.nan,
        "eps_rdp": s.epsilon_rdp if s else math.inf,
        "eps_prv": s.epsilon_prv if s else math.inf,
        "mu_accountant": mu,
        "eps_from_mu": audit.gdp_epsilon(mu, delta),
        "test_acc": p.test_acc.mean(),
    }
acct = pd.DataFrame(acct).T
acct.index = [label[e] for e in acct.index]
acct.rename_axis("ε").round(4)

# %%
base = pools[eps_values[0]]
n_models, n_examples = base.keep.shape
n_sel = n_models // 2
selection, targets = np.arange(n_sel), np.arange(n_sel, n_models)
e_hi, e_lo = max(finite), min(finite)
eps_ub = {  # the tightest upper bound the accountants give
    e: float(
        np.nanmin(
            [acct.loc[label[e], "eps_rdp"], acct.loc[label[e], "eps_prv"]]
        )
    )
    for e in eps_values
}
report.glue("n_models", n_models)
report.glue("n_sel", n_sel)
report.glue("eps_hi", label[e_hi])
report.glue("eps_lo", label[e_lo])
report.glue("mu_hi", acct.loc[label[e_hi], "mu_accountant"], "{:.2f}")
report.glue("mu_lo", acct.loc[label[e_lo], "mu_accountant"], "{:.2f}")
report.glue("eps_mu_hi", acct.loc[label[e_hi], "eps_from_mu"], "{:.2f}")
report.glue("eps_prv_hi", acct.loc[label[e_hi], "eps_prv"], "{:.2f}")
_ = report.glue("seconds_pools", seconds_pools, "{:.0f}")
# %% [markdown]
# Loading (or training) the {glue:text}`n_models`-model pools took {glue:text}`seconds_pools` seconds. At
# ε = {glue:text}`eps_hi` the accountant's μ is {glue:text}`mu_hi`, which implies ε = {glue:text}`eps_mu_hi` at
# this δ, against {glue:text}`eps_prv_hi` from the PRV accountant: with a sample rate this large and this few
# steps the central limit theorem behind μ is only an approximation (it can be optimistic), so the verdicts on ε
# below use the PRV and RDP accountants, and μ is the yardstick of the trade-off curves only.
#
# ## Many runs: chapter 6's audit
#
# For reference, chapter 6's audit, recomputed from the same cached pools: online LiRA against the second half of
# each pool (every other model of the pool serves as a shadow model), on the natural canaries (the most memorized
# examples, by Feldman–Zhang memorization on the first half of the non-private pool), every (target, canary) pair
# one trial, and one-sided Clopper–Pearson bounds on TPR and FPR (`metrics.epsilon_lower_bound`). One ε̂ per pool,
# and the whole pool behind it.

# %%
mem_sel = memorization.memorization(base.correct, base.keep, selection)
canaries_multi = memorization.most_memorized(
    mem_sel, min(n_canaries, n_examples // 4)
)
lira_all = {
    e: lira.lira_scores(
        p.phi, p.keep, target_ids=targets, variants=["online"]
    )["online"]
    for e, p in pools.items()
}
multi = {
    e: metrics.epsilon_lower_bound(
        lira_all[e][:, canaries_multi],
        p.keep[targets][:, canaries_multi],
        delta=delta,
        alpha=alpha,
    )["eps_lower"]
    for e, p in pools.items()
}
_ = report.glue("n_can_multi", len(canaries_multi))
# %% [markdown]
# ## One run: random and memorized canaries
#
# The canaries of a one-run audit must be randomized independently of everything that chose them, and here the
# memorized ones are chosen by the first half of the pool (the *selection* models) while the second half is
# audited. In a balanced keep matrix an example that is IN for more than half of the selection models is IN for
# fewer than half of the others, so its inclusion in an audited model is not a fair coin. Only the examples that are
# IN for exactly half of the selection models (`audit.eligible_canaries`) are IN for each audited model with
# probability exactly ½, independently, whatever the selection saw. Both kinds of canaries come from these
# {glue:text}`n_eligible` eligible examples: the {glue:text}`m_can` most memorized, and {glue:text}`m_can` drawn
# at random.
#
# Each audited model scores its canaries with LiRA's online likelihood ratio, whose reference statistics come from
# the selection models of the same pool only: the audit looks at one training run, but it needs reference models to
# tell a hard example from a leaked one (Exercise 9.1 audits without them). The auditor tries
# $k_+ = k_- \in$ {glue:text}`grid_text` guesses and keeps the best, each at level α divided by the number tried (a
# union bound).

# %%
eligible = audit.eligible_canaries(base.keep[selection])
elig_idx = np.flatnonzero(eligible)
m_can = min(n_canaries, elig_idx.size)
canaries = {
    "random": elig_idx[audit.random_canaries(elig_idx.size, m_can, seed)],
    "memorized": memorization.most_memorized(
        np.where(eligible, mem_sel, np.nan), m_can
    ),
}
grid = audit.guess_grid(m_can, guess_fractions)
one_run = {}
for e, p in pools.items():
    s_elig = lira.lira_scores(
        p.phi[:, elig_idx],
        p.keep[:, elig_idx],
        target_ids=targets,
        shadow_ids=selection,
        variants=["online"],
    )["online"]
    for kind, idx in canaries.items():
        one_run[(e, kind)] = audit.one_run_audits(
            s_elig[:, np.searchsorted(elig_idx, idx)],
            p.keep[targets][:, idx],
            grid,
            delta,
            alpha,
        )
report.glue("n_eligible", int(eligible.sum()))
report.glue("m_can", m_can)
report.glue(
    "mem_of_canaries", np.mean(mem_sel[canaries["memorized"]]), "{:.2f}"
)
report.glue("mem_of_random", np.mean(mem_sel[canaries["random"]]), "{:.2f}")
_ = report.glue("grid_text", ", ".join(f"{k}" for k, _ in grid))

# %% [markdown]
# ## Mislabeled canaries
#
# The auditing literature (Nasr et al. 2021; Steinke et al. 2023) plants *artificial* canaries, and the simplest
# are mislabeled examples. A model that did not train on one predicts its true label; only a model that trained on
# it can have learnt the wrong one. So the canary's φ for its *wrong* label separates members from non-members
# without any reference model: this audit is a true one-run audit, one trained model each. We train a small extra
# pool per ε ({glue:text}`n_mis` models, the same recipe and DP settings as the pools above) on the data with
# {glue:text}`m_can` random examples relabelled uniformly among the other classes, and audit every model with the
# same guesses.

# %%
t0 = time.perf_counter()
mis_canaries = audit.random_canaries(n_examples, m_can, seed)
y_mis = audit.mislabel(base.y, mis_canaries, base.dataset.n_classes, seed)
mis_pools = {}
for e in eps_values:
    c = config.Experiment(
        **(dict(epochs=epochs) if math.isinf(e) else dp_recipe),
        **dict(common, n_shadow=n_mislabeled),
    ).quick_if(quick)
    mis_pools[e] = audit.load_or_train_mislabeled_pool(
        c, y_mis, pools[e].dp
    )
    one_run[(e, "mislabeled")] = audit.one_run_audits(
        audit.canary_phi(mis_pools[e].logits, y_mis, mis_canaries),
        mis_pools[e].keep[:, mis_canaries],
        grid,
        delta,
        alpha,
    )
seconds_mislabeled = time.perf_counter() - t0
n_mis = mis_pools[eps_values[0]].n_shadow
report.glue("n_mis", n_mis)
report.glue("seconds_mislabeled", seconds_mislabeled, "{:.0f}")
_ = report.glue(
    "mis_acc_cost",
    base.test_acc.mean() - mis_pools[eps_values[0]].test_acc.mean(),
    "{:.1%}",
)

# %%
kinds = ("random", "memorized", "mislabeled")
spread = pd.DataFrame(
    {
        (label[e], kind): {
            "audits": v.size,
            "mean ε̂": v.mean(),
            "sd": v.std(),
            "max": v.max(),
            "share ε̂ > 0": np.mean(v > 0),
        }
        for e in eps_values
        for kind in kinds
        for v in [one_run[(e, kind)]]
    }
).T.rename_axis(["ε", "canaries"])
spread.astype({"audits": int}).round(3)

# %%
gain = {
    e: metrics.mean_diff(
        one_run[(e, "memorized")], one_run[(e, "random")], n_boot, seed=seed
    )
    for e in eps_values
}
per_pool = {
    e: claims.Verdict(
        claims.INCONCLUSIVE, "every ε̂ is 0", 0.0, (np.nan, np.nan)
    )
    if not (one_run[(e, "memorized")].any() or one_run[(e, "random")].any())
    else claims.greater(
        g,
        f"mean one-run ε̂, memorized − random canaries, ε = {label[e]}",
        n=len(targets),
    )
    for e, g in gain.items()
}
setting = (
    f"{cfg.dataset}, {cfg.model}, {len(targets)} audited models per pool, "
    f"{m_can} canaries"
)
tighter_dp = claims.some_of(
    [per_pool[e] for e in finite],
    "mean one-run ε̂, memorized − random canaries (best DP pool)",
)
tested.append(
    claims.record(
        "Memorized (natural) canaries give a tighter one-run audit of "
        "DP-SGD than random ones",
        "Steinke, Nasr & Jagielski 2023 (one-run audit); Why Train More? "
        "§8 (memorized examples as natural canaries)",
        tighter_dp,
        f"{setting}, finite-ε pools, paired over the audited models",
        "09_auditing_dp",
    )
)
nodp = eps_values[0]
tighter_nodp = per_pool[nodp]
if math.isinf(nodp):
    tested.append(
        claims.record(
            "Memorized (natural) canaries give a tighter one-run audit "
            "than random ones (no DP)",
            "Steinke, Nasr & Jagielski 2023; Why Train More? §8",
            tighter_nodp,
            f"{setting}, ε = ∞, paired over the audited models",
            "09_auditing_dp",
        )
    )
for kind in kinds:
    report.glue(f"one_{kind}_nodp", one_run[(nodp, kind)].mean(), "{:.2f}")
    report.glue(f"one_{kind}_hi", one_run[(e_hi, kind)].mean(), "{:.2f}")
    report.glue(f"one_{kind}_max_hi", one_run[(e_hi, kind)].max(), "{:.2f}")
    report.glue(
        f"one_{kind}_pos_nodp",
        np.mean(one_run[(nodp, kind)] > 0),
        "{:.0%}",
    )
report.glue("gain_nodp", gain[nodp].text("{:.2f}"))
report.glue_verdict("tighter_nodp", tighter_nodp, fmt="{:.2f}")
_ = report.glue_verdict("tighter_dp", tighter_dp, fmt="{:.2f}")
# %% [markdown]
# The memorized canaries have a mean memorization of {glue:text}`mem_of_canaries` on the selection models, the
# random ones {glue:text}`mem_of_random`. Without DP, one model audited on the memorized canaries certifies a mean
# ε̂ of {glue:text}`one_memorized_nodp` (a positive ε̂ in {glue:text}`one_memorized_pos_nodp` of the models),
# against {glue:text}`one_random_nodp` on random canaries ({glue:text}`one_random_pos_nodp`) and
# {glue:text}`one_mislabeled_nodp` on mislabeled ones ({glue:text}`one_mislabeled_pos_nodp`). The paired
# difference between memorized and random canaries over the same audited models is {glue:text}`gain_nodp`: this
# run {glue:text}`tighter_nodp` the claim that memorized canaries give the tighter audit without DP. Under DP the
# one-run audits fall to nearly nothing: at ε = {glue:text}`eps_hi` the mean ε̂ is
# {glue:text}`one_random_hi` (random), {glue:text}`one_memorized_hi` (memorized) and
# {glue:text}`one_mislabeled_hi` (mislabeled), and the best single model reaches
# {glue:text}`one_mislabeled_max_hi` with mislabeled canaries. On the DP pools this run
# {glue:text}`tighter_dp` the claim that memorized canaries audit more tightly (supported when some DP pool shows
# a gain and none a loss; a pool where every ε̂ is 0 cannot tell: {glue:text}`tighter_dp_stat`). The mislabeled
# canaries lower the mean test accuracy of the non-private models by {glue:text}`mis_acc_cost`; their pools took
# {glue:text}`seconds_mislabeled` seconds to load or train.
#
# ## The whole trade-off curve: Gaussian DP
#
# Any DP guarantee limits every test between neighbouring datasets. f-DP states the limit as a *trade-off
# function*: at type I error α (the FPR of a membership test) the type II error (its FNR) is at least $f(\alpha)$.
# **μ-GDP** is $f = G_\mu$ with $G_\mu(\alpha) = \Phi(\Phi^{-1}(1 - \alpha) - \mu)$, the trade-off of telling
# $\mathcal{N}(0, 1)$ from $\mathcal{N}(\mu, 1)$ (`audit.gaussian_tradeoff`). Subsampled DP-SGD is
# asymptotically μ-GDP with $\mu = q\sqrt{T}\sqrt{e^{1/\sigma^2} - 1}$ (the central limit theorem of Bu, Dong,
# Long & Su; Opacus's `compute_mu_poisson`). An audit reads the curve the other way round: every threshold t of an
# attack is one test, and with simultaneous Clopper–Pearson upper bounds $\mathrm{FPR}_{ub}(t)$ and
# $\mathrm{FNR}_{ub}(t)$, a point $(\mathrm{FPR}_{ub}, \mathrm{FNR}_{ub})$ below $G_\mu$ proves that training is
# not μ-GDP. The audited
#
# $$\hat\mu = \max_t\; \Phi^{-1}(1 - \mathrm{FPR}_{ub}(t)) - \Phi^{-1}(\mathrm{FNR}_{ub}(t))$$
#
# is the largest μ the attack rules out (`audit.gdp_audit`). We audit the trials of the multi-run ε̂ above (LiRA
# on the natural canaries, pooled over the targets), so μ̂ and the multi-run ε̂ cost the same models.

# %%
gdp = {
    e: audit.gdp_audit(
        lira_all[e][:, canaries_multi],
        p.keep[targets][:, canaries_multi],
        alpha,
    )
    for e, p in pools.items()
}
mu_acc = {e: acct.loc[label[e], "mu_accountant"] for e in eps_values}
mu_hat = {e: gdp[e]["mu_hat"] for e in eps_values}
report.glue("mu_hat_nodp", mu_hat[nodp], "{:.2f}")
report.glue("mu_hat_hi", mu_hat[e_hi], "{:.2f}")
_ = report.glue("mu_hat_lo", mu_hat[e_lo], "{:.2f}")

# %% mystnb={"figure": {"caption": "Trade-off curves: LiRA's type II against type I error on the natural canaries (blue) with its simultaneous 95% Clopper–Pearson band, the Gaussian trade-off G_μ of the accountant's μ (black) and of the audited μ̂ (red, dotted), and perfect privacy (μ = 0, grey).", "name": "fig-09-tradeoff"}}
a_grid = np.linspace(0, 1, 201)
fig, axes = plt.subplots(
    1, len(eps_values), figsize=(4.2 * len(eps_values), 4.2), squeeze=False
)
for ax, e in zip(axes[0], eps_values):
    pts = gdp[e]["points"]
    ax.fill(
        np.r_[pts["fpr_lo"], pts["fpr_hi"][::-1]],
        np.r_[pts["fnr_lo"], pts["fnr_hi"][::-1]],
        color="C0",
        alpha=0.25,
        lw=0,
        label="95% band",
    )
    ax.plot(pts["fpr"], pts["fnr"], color="C0", label="LiRA")
    ax.plot(a_grid, 1 - a_grid, color="gray", ls="--", lw=1, label="μ = 0")
    if math.isfinite(mu_acc[e]):
        ax.plot(
            a_grid,
            audit.gaussian_tradeoff(a_grid, mu_acc[e]),
            color="black",
            label=f"accountant μ = {mu_acc[e]:.2f}",
        )
    ax.plot(
        a_grid,
        audit.gaussian_tradeoff(a_grid, mu_hat[e]),
        color="C3",
        ls=":",
        lw=2,
        label=f"audited μ̂ = {mu_hat[e]:.2f}",
    )
    ax.set(
        xlabel="type I error (FPR)",
        ylabel="type II error (FNR)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.text(0.6, 0.9, f"ε = {label[e]}", transform=ax.transAxes)
    ax.legend(fontsize=7, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# Without DP the audited trade-off curve rules out μ-GDP for every μ below {glue:text}`mu_hat_nodp`. At
# ε = {glue:text}`eps_hi` the accountant's μ is {glue:text}`mu_hi` and the audit proves only
# {glue:text}`mu_hat_hi`; at ε = {glue:text}`eps_lo`, {glue:text}`mu_hat_lo` against {glue:text}`mu_lo`. The
# attack's curve sits far above the accountant's: the accountant covers the worst example and the worst
# neighbouring dataset, the attack meets the examples as they are.
#
# ## Every audit against the accountant

# %%
cost = {
    "multi": lambda e: n_models + (0 if math.isinf(e) else n_sel),
    "one_run_random": lambda e: 1 + n_sel,
    "one_run_memorized": lambda e: 1
    + n_sel
    + (0 if math.isinf(e) else n_sel),
    "one_run_mislabeled": lambda e: 1,
    "mu_hat": lambda e: n_models + (0 if math.isinf(e) else n_sel),
}
table = pd.DataFrame(
    {
        label[e]: {
            "eps_accountant": acct.loc[label[e], "eps_rdp"],
            "eps_prv": acct.loc[label[e], "eps_prv"],
            "eps_hat_multi": multi[e],
            "eps_hat_one_run_random": one_run[(e, "random")].mean(),
            "eps_hat_one_run_memorized": one_run[(e, "memorized")].mean(),
            "eps_hat_one_run_mislabeled": one_run[(e, "mislabeled")].mean(),
            "mu_accountant": mu_acc[e],
            "mu_hat": mu_hat[e],
        }
        for e in eps_values
    }
).T.rename_axis("ε")
costs = pd.Series(
    {name: f(math.inf) for name, f in cost.items()}, name="models (no DP)"
).to_frame()
costs["models (DP pool)"] = [f(1.0) for f in cost.values()]
table.round(3)

# %% mystnb={"figure": {"caption": "Every audit of this chapter against the accountant's ε (black, upper bound): chapter 6's multi-run ε̂ and the one-run ε̂ with random, memorized and mislabeled canaries (mean over the audited models, bars from the smallest to the largest model's ε̂), 95% lower bounds.", "name": "fig-09-audits"}}
fig, ax = plt.subplots(figsize=(6.5, 3.8))
x = np.arange(len(eps_values))
ub = np.array([acct.loc[label[e], "eps_rdp"] for e in eps_values], float)
ax.scatter(
    x[np.isfinite(ub)],
    ub[np.isfinite(ub)],
    marker="v",
    s=80,
    color="black",
    label="accountant ε (upper)",
)
ax.scatter(
    x - 0.2,
    [multi[e] for e in eps_values],
    marker="^",
    s=60,
    color="C3",
    label="multi-run ε̂",
)
for j, kind in enumerate(kinds):
    v = [one_run[(e, kind)] for e in eps_values]
    mean = np.array([a.mean() for a in v])
    ax.errorbar(
        x + 0.1 * j - 0.05,
        mean,
        yerr=[mean - [a.min() for a in v], [a.max() for a in v] - mean],
        fmt="o",
        ms=5,
        color=f"C{j}",
        capsize=2,
        label=f"one-run ε̂, {kind}",
    )
ax.set_xticks(x, [f"ε = {label[e]}" for e in eps_values])
ax.set(
    ylabel="ε",
    yscale="symlog",
    xlabel="pool",
    ylim=(-0.05, 3 * max(ub[np.isfinite(ub)].max(initial=1), 1)),
)
ax.legend(fontsize=7, loc="upper right")
plt.show()

# %%
exceed = np.concatenate(
    [one_run[(e, k)] > eps_ub[e] for e in finite for k in kinds]
)
one_run_ok = claims.at_most(
    metrics.share(exceed),
    alpha,
    "share of one-run audits with ε̂ above the accountant's ε",
    n=exceed.size,
)
multi_gap = max(multi[e] - eps_ub[e] for e in finite)
multi_ok = claims.holds(
    multi_gap <= 0,
    "largest multi-run ε̂ minus the accountant's ε",
    multi_gap,
)
consistent = claims.all_of(
    [one_run_ok, multi_ok], "every ε̂ against its accountant ε"
)
mu_gap = max(mu_hat[e] - mu_acc[e] for e in finite)
mu_ok = claims.holds(
    mu_gap <= 0, "largest audited μ̂ minus the accountant's μ", mu_gap
)
where = f"{cfg.dataset}, {cfg.model}, every finite ε"
tested += [
    claims.record(
        "One-run audits certify no more than the accountant's ε (beyond "
        "the α share of chance exceedances of a 1 − α bound)",
        "Steinke, Nasr & Jagielski 2023 (the one-run bound)",
        one_run_ok,
        f"{where}, {exceed.size} one-run audits, PRV/RDP accountant",
        "09_auditing_dp",
    ),
    claims.record(
        "The multi-run ε̂ stays below the accountant's ε",
        "Jagielski et al. 2020; Nasr et al. 2021 (auditing DP-SGD)",
        multi_ok,
        f"{where}, {len(canaries_multi)} natural canaries",
        "09_auditing_dp",
    ),
    claims.record(
        "The audited GDP μ̂ stays below the accountant's μ (central "
        "limit theorem)",
        "Dong, Roth & Su 2022; Bu et al. 2020 (GDP accountant)",
        mu_ok,
        f"{where}, LiRA on {len(canaries_multi)} natural canaries",
        "09_auditing_dp",
    ),
]
report.glue("n_audits", exceed.size)
report.glue("n_exceed", int(exceed.sum()))
report.glue("multi_hi", multi[e_hi], "{:.2f}")
report.glue("multi_nodp", multi[nodp], "{:.2f}")
report.glue("eps_acc_hi", acct.loc[label[e_hi], "eps_rdp"], "{:.2f}")
report.glue("cost_multi", cost["multi"](e_hi))
report.glue("cost_random", cost["one_run_random"](e_hi))
report.glue("cost_memorized", cost["one_run_memorized"](e_hi))
report.glue_verdict(
    "consistent", consistent, yes="is", no="is not", unsure="is not clearly"
)
report.glue_verdict("one_run_ok", one_run_ok)
_ = report.glue_verdict("mu_ok", mu_ok, fmt="{:.2f}")
costs

# %% [markdown]
# Of {glue:text}`n_audits` one-run audits of the DP pools, {glue:text}`n_exceed` certify an ε̂ above the tighter
# of the two accountants' ε; a valid lower bound at {glue:text}`confidence` confidence may exceed the truth in
# {glue:text}`alpha_pct` of the audits by chance, and the verdict holds the share of exceedances (with its Wilson
# interval) against that {glue:text}`alpha_pct`: this run {glue:text}`one_run_ok` the
# claim that the one-run audits respect the accountant ({glue:text}`one_run_ok_stat`). Together with the multi-run
# ε̂, every audit {glue:text}`consistent` consistent with the accountant, and this run
# {glue:text}`mu_ok` the claim that the audited μ̂ stays below the accountant's μ ({glue:text}`mu_ok_stat`).
#
# The costs differ by orders of magnitude, and so does what they buy. At ε = {glue:text}`eps_hi` the multi-run
# audit needs {glue:text}`cost_multi` trained models (the pool, and the non-private selection models that find
# its canaries) and certifies {glue:text}`multi_hi` against the accountant's {glue:text}`eps_acc_hi`; a one-run
# audit needs one model, plus {glue:text}`n_sel` reference models for LiRA's statistics with random canaries
# ({glue:text}`cost_random` in all; {glue:text}`cost_memorized` with memorized canaries, whose selection models are
# non-private),
# and one model alone with mislabeled canaries. On this small MLP none of them comes near the accountant: the
# accountant's ε is a worst case over every dataset, while these canaries are examples of the data (or a few
# wrong labels among them), and {doc}`chapter 6 <06_differential_privacy>` already showed that DP at these ε
# leaves little for LiRA to find.

# %% [markdown]
# ## Exercises
#
# The solutions reuse this chapter's pools (no training) and are folded away: try first, then open them.
#
# **Exercise 9.1 (one run, no reference models).** Audit the second half of the non-private pool on the same
# memorized canaries, but score each canary by the audited model's own φ (`audit.canary_phi`) instead of LiRA's
# likelihood ratio: no reference model at all. How much of the one-run ε̂ is left?

# %% tags=["hide-input"]
ex1_phi = audit.canary_phi(base.logits, base.y, canaries["memorized"])
ex1_hat = audit.one_run_audits(
    ex1_phi[targets],
    base.keep[targets][:, canaries["memorized"]],
    grid,
    delta,
    alpha,
)
report.glue("ex1_raw", ex1_hat.mean(), "{:.2f}")
report.glue("ex1_raw_pos", np.mean(ex1_hat > 0), "{:.0%}")
_ = report.glue("ex1_lira", one_run[(nodp, "memorized")].mean(), "{:.2f}")

# %% [markdown]
# ```{dropdown} Solution
# With the model's own φ the mean one-run ε̂ is {glue:text}`ex1_raw` (positive for {glue:text}`ex1_raw_pos` of the
# models), against {glue:text}`ex1_lira` with LiRA's reference statistics. A memorized example is one that the
# models *not* trained on it get wrong, so it is a hard example, and its φ is low in every model; without reference
# models the auditor cannot tell "hard and unseen" from "hard and seen". Mislabeled canaries need no reference
# models because their true label tells the auditor what an unseen model would say.
# ```
#
# **Exercise 9.2 (what μ̂ says about ε).** If the attack's trade-off curve were exactly Gaussian, μ̂ would imply a
# lower bound on ε at δ (`audit.gdp_epsilon`; Nasr et al. 2023 audit this way). Compute it for the non-private
# pool and for ε = {glue:text}`eps_hi`, and compare with the multi-run ε̂ from the same trials.

# %% tags=["hide-input"]
report.glue(
    "ex2_eps_nodp", audit.gdp_epsilon(mu_hat[nodp], delta), "{:.2f}"
)
report.glue("ex2_eps_hi", audit.gdp_epsilon(mu_hat[e_hi], delta), "{:.2f}")
report.glue("ex2_multi_nodp", multi[nodp], "{:.2f}")
_ = report.glue("ex2_multi_hi", multi[e_hi], "{:.2f}")

# %% [markdown]
# ```{dropdown} Solution
# Read through the Gaussian curve, μ̂ gives ε = {glue:text}`ex2_eps_nodp` without DP and
# {glue:text}`ex2_eps_hi` at ε = {glue:text}`eps_hi`, against multi-run ε̂ of {glue:text}`ex2_multi_nodp` and
# {glue:text}`ex2_multi_hi` from the same trials. The conversion uses the whole curve, so it can say more than the
# best single threshold, but it is a lower bound on ε only if the true trade-off curve is Gaussian: μ̂ rules out
# μ-GDP, and a mechanism that is not μ-GDP can still be (ε, δ)-DP for that ε. The multi-run ε̂ needs no such
# assumption.
# ```
#
# **Exercise 9.3 (the ceiling of one run).** With {glue:text}`m_can` canaries and every guess right, what is the
# largest ε̂ that one run can certify? How many correct guesses would it take to certify the ε of each DP pool of
# this chapter (with δ = 0, at {glue:text}`confidence` confidence)?

# %% tags=["hide-input"]
ex3_cap = audit.one_run_epsilon(m_can, m_can, m_can, delta, alpha)
ex3_need = {
    t: math.ceil(
        math.log(alpha) / math.log(math.exp(t) / (1 + math.exp(t)))
    )
    for t in finite
}
report.glue("ex3_cap", ex3_cap, "{:.2f}")
report.glue("ex3_n", f"{n_examples:,}")
_ = report.glue(
    "ex3_need", "; ".join(f"ε = {t:g}: {r:,}" for t, r in ex3_need.items())
)

# %% [markdown]
# ```{dropdown} Solution
# Guessing all {glue:text}`m_can` canaries right certifies at most ε̂ = {glue:text}`ex3_cap`. With every guess
# right the bound is $q^r \le \alpha$ for $q = e^\varepsilon/(1+e^\varepsilon)$, so certifying ε needs
# $r \ge \log\alpha / \log q$ correct guesses: {glue:text}`ex3_need`. The dataset has {glue:text}`ex3_n`
# examples: a one-run audit of a large ε needs more canaries than there are, and a model that gives nearly all of
# them away.
# ```

# %% [markdown]
# ## Summary
#
# - A one-run audit (Steinke et al.) is valid from a single trained model when its canaries are included by fair,
#   independent coins; every model of the book's pools is such a run, and memorized canaries chosen on other
#   models stay valid when each is IN for exactly half of the selection models.
# - Without DP, one model certifies a mean ε̂ of {glue:text}`one_memorized_nodp` on memorized canaries,
#   {glue:text}`one_random_nodp` on random ones and {glue:text}`one_mislabeled_nodp` on mislabeled ones; the run
#   {glue:text}`tighter_nodp` the claim that memorized canaries audit more tightly there, and
#   {glue:text}`tighter_dp` it on the DP pools.
# - One run certifies little by construction: {glue:text}`cap_r10` at most from {glue:text}`r_small` correct
#   guesses; under DP at
#   ε = {glue:text}`eps_hi` the one-run audits average {glue:text}`one_memorized_hi` (memorized),
#   {glue:text}`one_mislabeled_hi` (mislabeled) and the multi-run audit of {glue:text}`cost_multi` models
#   {glue:text}`multi_hi`, against the accountant's {glue:text}`eps_acc_hi`.
# - The f-DP audit rules out μ-GDP below μ̂ = {glue:text}`mu_hat_nodp` without DP and {glue:text}`mu_hat_hi` at
#   ε = {glue:text}`eps_hi`, whose accountant μ is {glue:text}`mu_hi`. Every audit {glue:text}`consistent`
#   consistent with its accountant.
#
# Re-run at full scale on a GPU with, e.g.,
# `python -m mia_lib run notebooks/09_auditing_dp.py -p dataset cifar10 -p data_dir DATA -p model cnn32
# -p n_shadow 256 -p n_canaries 1000 -p dp_epochs 30 -p dp_batch_size 512` (chapter 6 with the same values trains
# the pools).

# %% tags=["remove-input"]
_ = report.save_results(
    "09_auditing_dp",
    {
        "headline": [
            report.headline(
                "one-run ε̂ on memorized canaries, no DP (mean over "
                "models, 95% lower bounds)",
                one_run[(nodp, "memorized")].mean(),
                "{:.2f}",
                "One run: random and memorized canaries",
            ),
            report.headline(
                "one-run ε̂ gain of memorized over random canaries, no DP",
                gain[nodp],
                "{:.2f}",
                "One run: random and memorized canaries",
            ),
            report.headline(
                "one-run ε̂ on mislabeled canaries, no DP (mean over "
                "models)",
                one_run[(nodp, "mislabeled")].mean(),
                "{:.2f}",
                "Mislabeled canaries",
            ),
            report.headline(
                f"audited GDP μ̂ at ε = {label[e_hi]} "
                f"(accountant μ {mu_acc[e_hi]:.2f})",
                mu_hat[e_hi],
                "{:.2f}",
                "The whole trade-off curve: Gaussian DP",
            ),
        ],
        "per_epsilon": {
            label[e].replace("∞", "inf"): {
                "eps_accountant": acct.loc[label[e], "eps_rdp"],
                "eps_accountant_prv": acct.loc[label[e], "eps_prv"],
                "eps_hat_multi": multi[e],
                "eps_hat_one_run_random": one_run[(e, "random")].mean(),
                "eps_hat_one_run_memorized": one_run[
                    (e, "memorized")
                ].mean(),
                "eps_hat_one_run_mislabeled": one_run[
                    (e, "mislabeled")
                ].mean(),
                "one_run_spread": {
                    kind: {
                        "audits": int(one_run[(e, kind)].size),
                        "mean": one_run[(e, kind)].mean(),
                        "sd": one_run[(e, kind)].std(),
                        "min": one_run[(e, kind)].min(),
                        "max": one_run[(e, kind)].max(),
                        "share_positive": np.mean(one_run[(e, kind)] > 0),
                    }
                    for kind in kinds
                },
                "one_run_gain_memorized_minus_random": gain[e],
                "mu_accountant": mu_acc[e],
                "eps_from_mu_accountant": acct.loc[label[e], "eps_from_mu"],
                "mu_hat": mu_hat[e],
                "models_trained": {name: f(e) for name, f in cost.items()},
            }
            for e in eps_values
        },
        "delta": delta,
        "confidence": 1 - alpha,
        "n_canaries": m_can,
        "n_eligible": int(eligible.sum()),
        "guesses": [list(g) for g in grid],
        "n_mislabeled_models": n_mis,
        "audit_consistent": consistent.verdict,
        "mu_hat_below_accountant": mu_ok.verdict,
        "memorized_tighter_no_dp": tighter_nodp.verdict,
        "memorized_tighter_dp": tighter_dp.verdict,
        "claims": tested,
        "seconds_pools": seconds_pools,
        "seconds_mislabeled": seconds_mislabeled,
        "config": cfg.to_dict(),
        "config_dp": cfg_dp.to_dict(),
    },
)
