"""How the toy experiments turn the oracle's verdicts into numbers people can trust: alignment rates
with 95 % intervals over prompts (clips of one prompt are not independent, so prompts are resampled),
paired differences on the same prompts and seeds, and how many prompts an interval width needs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from baton_tta.toy.world import TASKS


def _resample_prompts(
    numerators: np.ndarray, counts: np.ndarray, samples: int, seed: int
) -> tuple[float, float, float]:
    """Σ numerators / Σ counts and its 95 % percentile interval, resampling prompts with replacement."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(numerators), size=(samples, len(numerators)))
    values = numerators[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(numerators.sum() / counts.sum()), float(low), float(high)


def bootstrap_interval(
    aligned_per_prompt: list[list[bool]], samples: int, seed: int
) -> tuple[float, float, float]:
    """Alignment rate and its 95 % interval over prompts."""
    if not aligned_per_prompt:
        return math.nan, math.nan, math.nan
    sums = np.array([sum(p) for p in aligned_per_prompt], dtype=float)
    counts = np.array([len(p) for p in aligned_per_prompt], dtype=float)
    return _resample_prompts(sums, counts, samples, seed)


def paired_difference(
    first: list[list[bool]], second: list[list[bool]], samples: int, seed: int
) -> tuple[float, float, float]:
    """Rate of ``first`` minus rate of ``second`` on the same prompts and clip seeds, with a 95 %
    interval from resampling prompts jointly, so each prompt's difficulty cancels."""
    if len(first) != len(second) or any(len(a) != len(b) for a, b in zip(first, second, strict=True)):
        raise ValueError("a paired difference needs the same prompts and clips per prompt on both sides")
    if not first:
        return math.nan, math.nan, math.nan
    diffs = np.array([sum(a) - sum(b) for a, b in zip(first, second, strict=True)], dtype=float)
    counts = np.array([len(a) for a in first], dtype=float)
    return _resample_prompts(diffs, counts, samples, seed)


def paired_differences(
    rows: Sequence[Mapping[str, Any]], references: Mapping[str, Mapping[str, Any]], samples: int, seed: int
) -> list[dict]:
    """Each judged row (``{"model", "aligned": {task: per-prompt flags}}``) against each named
    reference, per task: the table under every toy comparison. Rows that record what they judged
    (``"judged"``: prompts and clip seeds, :class:`~baton_tta.toy.judge.ToyJudge`) must have judged the
    same as their reference, or the difference would not be paired."""
    for row in rows:
        for against, reference in references.items():
            if "judged" in row and "judged" in reference and row["judged"] != reference["judged"]:
                raise ValueError(
                    f"{row['model']!r} and {against!r} were judged on different prompts or clip seeds"
                )
    return [
        {
            "model": row["model"],
            **{
                f"{task} - {against}": paired_difference(
                    row["aligned"][task], reference["aligned"][task], samples, seed
                )
                for task in TASKS
                for against, reference in references.items()
            },
        }
        for row in rows
    ]


def intraclass_correlation(aligned_per_prompt: list[list[bool]]) -> float:
    """One-way ANOVA ICC(1) of the aligned flags, prompts as groups (equal sizes): how much of the
    clip-to-clip variance is the prompt's. It sets how many prompts a ±5-point interval needs."""
    data = np.array(aligned_per_prompt, dtype=float)
    groups, size = data.shape
    if groups < 2 or size < 2:
        return math.nan
    between = size * ((data.mean(axis=1) - data.mean()) ** 2).sum() / (groups - 1)
    within = ((data - data.mean(axis=1, keepdims=True)) ** 2).sum() / (groups * (size - 1))
    if between + (size - 1) * within == 0:
        return 0.0
    return float((between - within) / (between + (size - 1) * within))


def prompts_for_half_width(rate: float, icc: float, clips_per_prompt: int, half_width: float = 0.05) -> int:
    """Prompts needed for a 95 % interval of ± ``half_width`` on an alignment rate, with clips of one
    prompt correlated by ``icc`` (the design effect ``1 + (m − 1)·icc`` on a binomial variance)."""
    variance = max(rate * (1 - rate), 1e-6) * (1 + (clips_per_prompt - 1) * max(icc, 0.0))
    return math.ceil(variance * (1.96 / half_width) ** 2 / clips_per_prompt)


def paired_variance_components(first: list[list[bool]], second: list[list[bool]]) -> tuple[float, float]:
    """Where a paired difference's uncertainty comes from: the per-clip differences ``first − second``
    (prompts × clips, the same seeds) split, one-way ANOVA by moments, into the variance of the
    prompts' own differences (``between``, floored at 0: how unevenly the model changed from prompt to
    prompt) and the mean variance of one clip's difference around its prompt's (``within``). More
    clips per prompt shrink only the second."""
    diffs = np.array(first, dtype=float) - np.array(second, dtype=float)
    prompts, clips = diffs.shape
    if prompts < 2 or clips < 2:
        return math.nan, math.nan
    within = float(diffs.var(axis=1, ddof=1).mean())
    between = max(float(diffs.mean(axis=1).var(ddof=1)) - within / clips, 0.0)
    return between, within


def paired_half_width(between: float, within: float, prompts: int, clips: float) -> float:
    """The normal 95 % half-width of a mean paired difference over ``prompts`` prompts of ``clips``
    clips each; ``clips=math.inf`` is the floor no number of clips goes below."""
    return 1.96 * math.sqrt((between + within / clips) / prompts)


def clips_for_half_width(between: float, within: float, prompts: int, half_width: float) -> int | None:
    """Clips per prompt a ± ``half_width`` paired interval needs on ``prompts`` prompts; None when even
    infinitely many cannot (the prompts' own differences vary too much: more prompts are needed)."""
    room = prompts * (half_width / 1.96) ** 2 - between
    if room <= 0:
        return None
    return max(2, math.ceil(within / room))
