"""Preference pairs from scored clips: the route of Tango 2 and TangoFlux's CRPO.

Several clips of one caption, each scored (by a reward model, CLAP, or people), become one
chosen / rejected pair per caption: the best-scored clip against the worst. A caption whose best and
worst differ by less than ``min_margin`` gives no pair — near-ties teach Diffusion-DPO noise — and is
counted, never dropped silently. The pair keeps both clips' scores and seeds so a round's dataset
says why each pair exists.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from datasets import Dataset, Features, Value

from baton_tta.data.schema import pairwise_features

logger = logging.getLogger(__name__)


@dataclass
class PairStats:
    """What :func:`ranked_pairs` made of the clips, for logs and cards."""

    prompts: int
    pairs: int
    below_margin: int
    single_clip: int

    def describe(self) -> str:
        return (
            f"{self.pairs} pairs from {self.prompts} prompts; skipped {self.below_margin} whose best and "
            f"worst clip differ by less than the margin, {self.single_clip} with a single clip"
        )


def ranked_pair_features() -> Features:
    features = pairwise_features()
    for side in ("chosen", "rejected"):
        features[f"{side}_score"] = Value("float32")
        features[f"{side}_seed"] = Value("int64")
    return features


def ranked_pairs(
    clips: Dataset, scores: Sequence[float], min_margin: float = 0.0
) -> tuple[Dataset, PairStats]:
    """One pair per prompt of ``clips`` (binary schema: ``prompt``, ``audio``, ``seed``): the clip with
    the highest score as ``chosen``, the lowest as ``rejected`` (the first in row order on ties), kept
    when ``best − worst ≥ min_margin`` and ``best > worst``. Prompts keep their first-seen order."""
    if len(scores) != len(clips):
        raise ValueError(f"{len(scores)} scores for {len(clips)} clips")
    bad = [i for i, s in enumerate(scores) if not math.isfinite(float(s))]
    if bad:
        raise ValueError(f"scores must be finite; rows {bad[:10]} are not")
    if min_margin < 0:
        raise ValueError(f"min_margin must be ≥ 0, got {min_margin}")
    by_prompt: dict[str, list[int]] = {}
    for index, prompt in enumerate(clips["prompt"]):
        by_prompt.setdefault(prompt, []).append(index)
    audio = clips.select_columns(["audio"]).with_format(None)["audio"]
    seeds = clips["seed"] if "seed" in clips.column_names else [-1] * len(clips)
    rows: dict[str, list] = {name: [] for name in ranked_pair_features()}
    below_margin = single_clip = 0
    for prompt, indices in by_prompt.items():
        if len(indices) < 2:
            single_clip += 1
            continue
        best = max(indices, key=lambda i: (float(scores[i]), -i))
        worst = min(indices, key=lambda i: (float(scores[i]), i))
        margin = float(scores[best]) - float(scores[worst])
        if margin <= 0 or margin < min_margin:
            below_margin += 1
            continue
        rows["prompt"].append(prompt)
        for side, index in (("chosen", best), ("rejected", worst)):
            rows[side].append(audio[index])
            rows[f"{side}_score"].append(float(scores[index]))
            rows[f"{side}_seed"].append(int(seeds[index]))
    stats = PairStats(len(by_prompt), len(rows["prompt"]), below_margin, single_clip)
    logger.info("preference pairs: %s", stats.describe())
    return Dataset.from_dict(rows).cast(ranked_pair_features()), stats
