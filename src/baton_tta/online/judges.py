"""Held-out judges for online rounds: scorers the rounds do not optimise — the CLAP score, or any
scorer of the registry (:class:`ScorerJudge`)."""

from __future__ import annotations

import numpy as np
from datasets import Dataset

from baton_tta.clap import ClapEmbedder
from baton_tta.metrics.functions import clap_score
from baton_tta.scorers import NamedScorer


class ClapScoreJudge:
    """The CLAP score (mean caption–clip cosine) of the held-out clips, stage 4's text-relevance
    metric. Use a CLAP other than the reward model's backbone when one is available: a judge that
    shares the reward's embeddings shares its blind spots."""

    def __init__(self, embedder: ClapEmbedder, name: str = "clap_score"):
        self.embedder = embedder
        self.name = name

    def __call__(
        self, rows: Dataset, waveforms: list[np.ndarray], clips_per_prompt: int, sampling_rate: int
    ) -> dict[str, float]:
        texts = np.repeat(self.embedder.embed_texts(list(rows["prompt"])), clips_per_prompt, axis=0)
        audios = self.embedder.embed_audios(waveforms, sampling_rate)
        return {self.name: clap_score(texts, audios)}


class ScorerJudge:
    """Any scorer of the registry (an audio-language-model judge, aesthetics, another reward model) as
    a held-out judge: its mean over the held-out clips, reported under the scorer's name."""

    def __init__(self, scorer: NamedScorer):
        self.scorer = scorer

    def __call__(
        self, rows: Dataset, waveforms: list[np.ndarray], clips_per_prompt: int, sampling_rate: int
    ) -> dict[str, float]:
        """The scorer's mean over the clips, which are at ``sampling_rate`` (the pipeline's)."""
        prompts = [prompt for prompt in rows["prompt"] for _ in range(clips_per_prompt)]
        return {self.scorer.name: float(np.mean(self.scorer.score(prompts, waveforms, sampling_rate)))}
