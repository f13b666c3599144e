"""One figure style for the book: log-log ROC curves, histograms, per-bin bars with CIs, scatter with ρ."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from . import metrics


def style() -> None:
    """Apply the book's matplotlib defaults (seaborn whitegrid, 2 pt lines, readable fonts)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"lines.linewidth": 2, "figure.dpi": 110, "savefig.bbox": "tight"})


def roc_loglog(ax, curves: dict, n_min: int | None = None, level: float = 0.001):
    """Log-log ROC curves with the chance line; the legend gives AUROC and TPR at FPR = ``level``.

    Args:
        ax: matplotlib axes. curves: {label: (scores [T,N], is_member [T,N])}.
        n_min: number of non-members (sets the lower axis limit at 1/n_min; default 1e-5).
    """
    lo = 1e-5 if n_min is None else max(1e-5, 1.0 / n_min)
    for label, (scores, is_member) in curves.items():
        fpr, tpr = metrics.roc(scores, is_member)
        auc = metrics.auroc(scores, is_member)
        t = metrics.tpr_at_fpr(fpr, tpr, level)
        ax.plot(np.maximum(fpr, lo), np.maximum(tpr, lo), label=f"{label} (AUC {auc:.3f}, TPR@{level:.1%} {t:.3f})")
    ax.plot([lo, 1], [lo, 1], ls="--", color="gray", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlim=(lo, 1), ylim=(lo, 1), xlabel="false positive rate",
           ylabel="true positive rate")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def bars_with_ci(ax, labels, values, lows, highs, color=None, label=None, offset: float = 0.0, width: float = 0.8):
    """Bar chart with asymmetric error bars (CIs given as absolute lows/highs)."""
    x = np.arange(len(labels)) + offset
    values, lows, highs = map(np.asarray, (values, lows, highs))
    ax.bar(x, values, width=width, color=color, label=label,
           yerr=np.vstack([values - lows, highs - values]), capsize=3)
    ax.set_xticks(np.arange(len(labels)), labels)
    return ax


def scatter_rho(ax, x, y, xlabel: str, ylabel: str, **kw):
    """Scatter plot annotated with Spearman's ρ (scipy). Returns ρ."""
    ok = np.isfinite(x) & np.isfinite(y)
    rho = stats.spearmanr(x[ok], y[ok]).statistic
    ax.scatter(x[ok], y[ok], s=6, alpha=0.5, **kw)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.text(0.02, 0.95, f"Spearman ρ = {rho:.2f}", transform=ax.transAxes, va="top")
    return float(rho)
