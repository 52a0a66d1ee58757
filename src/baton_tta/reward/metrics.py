"""How well a reward model predicts human labels: accuracy at 0.5, ROC-AUC, F1, expected calibration
error, and the prediction histogram of the paper's Figure 4."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from baton_tta.hub.figures import subplots

logger = logging.getLogger(__name__)


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE = Σ_b (n_b / N) · |mean label in bin b − mean score in bin b| over equal-width score bins."""
    labels, scores = np.asarray(labels, float), np.asarray(scores, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(labels[members].mean() - scores[members].mean())
    return float(total)


def reward_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """accuracy (threshold 0.5), ROC-AUC (NaN when only one class is present), F1, ECE, count."""
    labels, scores = np.asarray(labels, int), np.asarray(scores, float)
    predictions = (scores >= 0.5).astype(int)
    classes = set(labels.tolist())
    auc = roc_auc_score(labels, scores) if len(classes) == 2 else math.nan
    if len(labels) and len(classes) == 1:
        logger.warning(
            "every label is %d: ROC AUC is undefined (NaN) and accuracy only counts one class; label "
            "both aligned and not-aligned clips",
            classes.pop(),
        )
    return {
        "accuracy": float((predictions == labels).mean()) if len(labels) else math.nan,
        "roc_auc": float(auc),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "ece": expected_calibration_error(labels, scores),
        "count": float(len(labels)),
    }


def metrics_by_task(labels: np.ndarray, scores: np.ndarray, tasks: list[str]) -> dict[str, dict[str, float]]:
    result = {"overall": reward_metrics(labels, scores)}
    for task in sorted(set(tasks)):
        members = np.array([t == task for t in tasks])
        result[task or "unspecified"] = reward_metrics(
            np.asarray(labels)[members], np.asarray(scores)[members]
        )
    return result


def plot_prediction_histogram(labels: np.ndarray, scores: np.ndarray, tasks: list[str], path: Path) -> Path:
    """Predicted reward for aligned vs not-aligned clips, one panel per task (paper Figure 4)."""

    names = sorted(set(tasks)) or [""]
    figure, axes = subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for axis, task in zip(axes[0], names):
        members = np.array([t == task for t in tasks])
        for label, color, text in ((1, "tab:green", "aligned"), (0, "tab:red", "not aligned")):
            values = np.asarray(scores)[members & (np.asarray(labels) == label)]
            axis.hist(values, bins=20, range=(0, 1), alpha=0.6, color=color, label=f"{text} ({len(values)})")
        axis.set_title(task or "all")
        axis.set_xlabel("predicted reward")
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel("clips")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path
