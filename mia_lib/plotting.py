"""One figure style for the book: log-log ROC curves, bars with CIs (per memorization bin, per subset)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import metrics


def style() -> None:
    """Apply the book's matplotlib defaults (seaborn whitegrid, 2 pt lines, readable fonts).

    Used in chapters 1, 2, 3, 4, 5, 6, 7.
    """
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"lines.linewidth": 2, "figure.dpi": 110, "savefig.bbox": "tight"})


def roc_loglog(ax, curves: dict, n_min: int | None = None, level: float = 0.001):
    """Log-log ROC curves with the chance line; the legend gives AUROC and TPR at FPR = ``level``.

    Args:
        ax: matplotlib axes. curves: {label: (scores [T,N], is_member [T,N])}.
        n_min: number of non-members (sets the lower axis limit at 1/n_min; default 1e-5).

    Used in chapters 1, 3, 4, 6, 7.
    """
    lo = 1e-5 if n_min is None else max(1e-5, 1.0 / n_min)
    for label, (scores, is_member) in curves.items():
        fpr, tpr = metrics.roc(scores, is_member)
        auc = metrics.auroc(scores, is_member)
        t = metrics.tpr_at_fpr(fpr, tpr, level)
        ax.plot(np.maximum(fpr, lo), np.maximum(tpr, lo), label=f"{label} (AUC {auc:.3f}, TPR@{level:.1%} {t:.3f})")
    ax.plot([lo, 1], [lo, 1], ls="--", color="gray", lw=1, label="chance")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, 1),
        ylim=(lo, 1),
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    ax.legend(fontsize=8, loc="lower right")
    return ax


def bars_with_ci(ax, labels, values, lows, highs, color=None, label=None, offset: float = 0.0, width: float = 0.8):
    """Bar chart with asymmetric error bars (CIs given as absolute lows/highs)."""
    x = np.arange(len(labels)) + offset
    values, lows, highs = map(np.asarray, (values, lows, highs))
    ax.bar(x, values, width=width, color=color, label=label, yerr=np.vstack([values - lows, highs - values]), capsize=3)
    ax.set_xticks(np.arange(len(labels)), labels)
    return ax


def bars_by_subset(ax, table, measure: str, by: str = "attack"):
    """Grouped bars of one measure per subset with 95% CIs: one colour per ``by`` value, side by side.

    Args:
        ax: matplotlib axes. table: long DataFrame with columns ``by``, ``subset``, ``measure`` and
            ``<measure>_ci`` (:class:`mia_lib.metrics.Interval`), e.g. :func:`mia_lib.metrics.by_subset` rows of
            several attacks concatenated. measure: e.g. ``"auroc"``. Chapters 1 and 7 (per memorization bin).
    """
    parts = list(table.groupby(by, sort=False))
    width = 0.8 / max(len(parts), 1)
    for j, (name, part) in enumerate(parts):
        ci = np.array([tuple(c) for c in part[measure + "_ci"]], dtype=np.float64).reshape(-1, 3)
        bars_with_ci(
            ax,
            part["subset"],
            part[measure],
            ci[:, 1],
            ci[:, 2],
            color=f"C{j}",
            label=name,
            offset=width * j - 0.4 + width / 2,
            width=width,
        )
    return ax


def points_with_ci(ax, table, x: str, y: str, marked=(), annotate: bool = True):
    """One point per row with its 95% CIs on both axes, labelled by the row's name; ``marked`` rows drawn as stars.

    Args:
        ax: matplotlib axes. table: DataFrame with columns ``x``, ``y``, ``<x>_ci`` and ``<y>_ci``
            (:class:`mia_lib.metrics.Interval`), e.g. :func:`mia_lib.defenses.frame`. Chapter 8.
    """
    for i, (name, row) in enumerate(table.iterrows()):
        cx, cy = row[f"{x}_ci"], row[f"{y}_ci"]
        ax.errorbar(
            row[x],
            row[y],
            xerr=[[row[x] - cx.lo], [cx.hi - row[x]]],
            yerr=[[row[y] - cy.lo], [cy.hi - row[y]]],
            fmt="*" if name in marked else "o",
            ms=12 if name in marked else 6,
            color=f"C{i % 10}",
            capsize=2,
            label=name,
        )
        if annotate:
            ax.annotate(name, (row[x], row[y]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    return ax


def point_panels(table, x: str, panels: dict, xlabel: str, ylabel: str, marked=(), figsize=(11, 4.6)):
    """Side-by-side panels of :func:`points_with_ci` (the same ``x``, one ``y`` per panel) with one legend below.

    Args:
        table: as :func:`points_with_ci`. panels: {title: y column}. marked: rows drawn as stars. Chapter 8.
    Returns:
        (fig, axes).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharex=True, squeeze=False)
    for ax, (title, y) in zip(axes[0], panels.items()):
        points_with_ci(ax, table, x, y, marked=marked, annotate=False)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, -0.12))
    return fig, axes[0]
