"""The built-in kinds of scorer, registered by name (:mod:`baton_tta.scorers.registry`). Each is
built lazily from its source, so naming one never imports another's dependencies. The toy world
registers its oracle (``toy-oracle``) itself (:mod:`baton_tta.toy.online`): the library never imports
the toy world."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch

from baton_tta.extras import require
from baton_tta.metrics.functions import paired_cosines
from baton_tta.scorers.registry import ScorerKind, register_scorer

#: Audiobox Aesthetics' four axes: content enjoyment, content usefulness, production complexity,
#: production quality
AESTHETICS_AXES = ("CE", "CU", "PC", "PQ")


class ClapScorer:
    """Each (caption, clip) pair's CLAP cosine similarity — stage 4's CLAP score, per clip — mapped
    from [-1, 1] into [0, 1] as ``(cosine + 1) / 2`` (order kept), so it weighs in a reward like every
    other scorer (the raw cosine gave negative rewards the project's own loader refused)."""

    def __init__(self, embedder: Any, name_or_path: str | None = None):
        self.embedder, self.name_or_path = embedder, name_or_path

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        texts = self.embedder.embed_texts(list(prompts))
        clips = self.embedder.embed_audios(list(audios), sampling_rate)
        return [(float(x) + 1.0) / 2.0 for x in paired_cosines(texts, clips)]


class AudioboxAesthetics:
    """One axis of Meta's Audiobox Aesthetics (``audiobox-aesthetics``, an optional extra: its
    predictor loads ``facebook/audiobox-aesthetics`` from the Hub as safetensors). The axes are rated
    on a 1–10 scale; a score is ``(rating − 1) / 9``, clipped to [0, 1]."""

    def __init__(self, axis: str, predictor: Any | None = None):
        if axis not in AESTHETICS_AXES:
            raise ValueError(f"aesthetics axis {axis!r}: one of {', '.join(AESTHETICS_AXES)}")
        if predictor is None:
            require("audiobox_aesthetics", "the aesthetics scorer")
            predictor = importlib.import_module("audiobox_aesthetics.infer").initialize_predictor()
        self.axis, self.predictor = axis, predictor

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        batch = [
            {"path": torch.from_numpy(np.asarray(a, np.float32))[None], "sample_rate": sampling_rate}
            for a in audios
        ]
        return [
            min(1.0, max(0.0, (float(row[self.axis]) - 1.0) / 9.0)) for row in self.predictor.forward(batch)
        ]

    def describe(self) -> dict[str, Any]:
        return {"axis": self.axis, "checkpoint": "facebook/audiobox-aesthetics"}


def _reward_model(source: str) -> Any:
    from baton_tta.reward.modeling import BatonRewardModel

    return BatonRewardModel.from_pretrained(source)


def _clap(source: str) -> ClapScorer:
    from baton_tta.clap import ClapEmbedder

    return ClapScorer(ClapEmbedder.from_pretrained(source), source)


def _judge(source: str) -> Any:
    from baton_tta.scorers.judge import AudioLanguageJudge

    return AudioLanguageJudge.from_pretrained(source)


register_scorer(ScorerKind("reward-model", _reward_model, "a BatonRewardModel folder or Hub id: P(aligned)"))
register_scorer(ScorerKind("clap", _clap, "a transformers CLAP id or folder: caption–clip cosine"))
register_scorer(
    ScorerKind("judge", _judge, "an audio-language model id or folder: P('yes') to the task's question")
)
register_scorer(
    ScorerKind(
        "aesthetics", AudioboxAesthetics, f"an Audiobox Aesthetics axis ({', '.join(AESTHETICS_AXES)})"
    )
)
