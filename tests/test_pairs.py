"""Preference pairs from scored clips: best against worst per prompt, with a margin, counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from datasets import Dataset

from baton_tta.data.audio import SAMPLING_RATE, encode_audio
from baton_tta.data.pairs import ranked_pairs
from baton_tta.data.schema import binary_features


def _clips(prompts: list[str]) -> Dataset:
    rows = {
        "prompt": prompts,
        "audio": [
            encode_audio(np.full(160, i / 100, dtype=np.float32), SAMPLING_RATE, f"{i}.wav")
            for i in range(len(prompts))
        ],
        "label": [-1] * len(prompts),
        "task": [""] * len(prompts),
        "events": [[] for _ in prompts],
        "source": ["unlabelled"] * len(prompts),
        "reward": [float("nan")] * len(prompts),
        "annotator": [""] * len(prompts),
        "generator": ["test"] * len(prompts),
        "seed": [100 + i for i in range(len(prompts))],
    }
    return Dataset.from_dict(rows).cast(binary_features())


def test_pairs_match_a_ranking_by_hand(caplog):
    prompts = ["a"] * 4 + ["b"] * 3 + ["c"] * 3 + ["d"]
    scores = [0.2, 0.9, 0.1, 0.9, 0.50, 0.55, 0.52, 0.7, 0.3, 0.3, 0.8]
    with caplog.at_level(logging.INFO, logger="baton_tta.data.pairs"):
        pairs, stats = ranked_pairs(_clips(prompts), scores, min_margin=0.1)
    # a: best 0.9 (row 1, first of the tie), worst 0.1 (row 2); b: 0.55 − 0.50 < 0.1, no pair;
    # c: best row 7, worst row 8 (first of the tie at 0.3); d: one clip only
    assert pairs["prompt"] == ["a", "c"]
    assert pairs["chosen_seed"] == [101, 107] and pairs["rejected_seed"] == [102, 108]
    assert pairs["chosen_score"] == pytest.approx([0.9, 0.7]) and pairs["rejected_score"] == pytest.approx(
        [0.1, 0.3]
    )
    assert (stats.prompts, stats.pairs, stats.below_margin, stats.single_clip) == (4, 2, 1, 1)
    assert "2 pairs from 4 prompts" in caplog.text and "1 with a single clip" in caplog.text
    assert pairs.features["chosen"].decode is False and set(pairs.column_names) >= {
        "prompt",
        "chosen",
        "rejected",
    }


def test_equal_scores_give_no_pair_even_without_margin():
    pairs, stats = ranked_pairs(_clips(["a", "a"]), [0.4, 0.4], min_margin=0.0)
    assert len(pairs) == 0 and stats.below_margin == 1


def test_bad_scores_are_named():
    with pytest.raises(ValueError, match="2 scores for 3 clips"):
        ranked_pairs(_clips(["a", "a", "b"]), [0.1, 0.2])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        ranked_pairs(_clips(["a", "a"]), [0.1, float("nan")])
