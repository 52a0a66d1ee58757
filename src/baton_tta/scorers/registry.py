"""One registry of scorers — everything that turns (caption, clip) pairs into numbers — by name, as
the family and objective registries are: the BATON reward model, the CLAP score, an audio-language
model judge, Audiobox Aesthetics and the toy oracle.

A scorer is named on the command line as ``kind:source`` (``reward-model:outputs/reward``,
``judge:Qwen/Qwen2-Audio-7B-Instruct``, ``clap:laion/clap-htsat-unfused``, ``aesthetics:PQ``,
``toy-oracle``); several are averaged with weights (TRL's ``reward_weights``). Each loaded scorer
records its kind and checkpoint, so a run can say which scorers it used (cards, ``run.json``,
``results.json``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from baton_tta.data.audio import score_as_heard
from baton_tta.data.settings import SettingsError


@runtime_checkable
class Scorer(Protocol):
    """What scores clips: :class:`~baton_tta.reward.BatonRewardModel`, any kind of this registry, or
    anything with ``score`` (every trainer, online round and command takes it)."""

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        """One number per (prompt, waveform) pair; waveforms at ``sampling_rate``."""


@dataclass(frozen=True)
class ScorerKind:
    """How to build one kind of scorer from its source (a folder, Hub id or option)."""

    name: str
    build: Callable[[str], Scorer]
    description: str
    #: whether ``kind:source`` needs a source (the toy oracle does not)
    needs_source: bool = True


SCORER_KINDS: dict[str, ScorerKind] = {}


def register_scorer(kind: ScorerKind) -> ScorerKind:
    """Add a kind of scorer (a name already taken is an error: one name, one scorer)."""
    if kind.name in SCORER_KINDS:
        raise ValueError(f"a scorer kind named {kind.name!r} is already registered")
    SCORER_KINDS[kind.name] = kind
    return kind


def scorer_kind(name: str) -> ScorerKind:
    if name not in SCORER_KINDS:
        raise ValueError(f"unknown scorer kind {name!r}; registered: {', '.join(sorted(SCORER_KINDS))}")
    return SCORER_KINDS[name]


@dataclass(frozen=True)
class ScorerSpec:
    """``kind:source`` as written on a command line."""

    kind: str
    source: str

    @classmethod
    def parse(cls, text: str) -> ScorerSpec:
        kind, _, source = text.partition(":")
        registered = scorer_kind(kind.strip())
        if registered.needs_source and not source.strip():
            raise ValueError(f"scorer {text!r}: {kind} needs a source, as {kind}:PATH_OR_ID")
        return cls(kind.strip(), source.strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.source}" if self.source else self.kind


class NamedScorer:
    """A built scorer with what it is: its kind and checkpoint (``describe``)."""

    def __init__(self, spec: ScorerSpec, scorer: Scorer):
        self.spec, self.scorer = spec, scorer

    @property
    def name(self) -> str:
        return str(self.spec)

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        return score_as_heard(self.scorer, prompts, audios, sampling_rate)

    def describe(self) -> dict[str, Any]:
        details = getattr(self.scorer, "describe", None)
        return {
            "scorer": self.spec.kind,
            "checkpoint": self.spec.source or None,
            **(details() if details else {}),
        }


def describe_scorer(scorer: Any) -> dict[str, Any]:
    """Any scorer's kind and checkpoint: its own ``describe()`` (the registry's scorers), else its
    class and the ``name_or_path`` it was loaded from (a ``BatonRewardModel`` given directly)."""
    described = scorer.describe() if hasattr(scorer, "describe") else None
    if isinstance(described, dict):
        return described
    return {"scorer": type(scorer).__name__, "checkpoint": getattr(scorer, "name_or_path", None) or None}


def load_scorer(text: str) -> NamedScorer:
    """Build the scorer ``kind:source`` names."""
    spec = ScorerSpec.parse(text)
    return NamedScorer(spec, scorer_kind(spec.kind).build(spec.source))


class WeightedScorers:
    """``Σ wᵢ · scorerᵢ / Σ wᵢ``: one score per clip for commands that need one number (any scorers;
    the registry's describe themselves). The weights are finite, ≥ 0 and not all 0, and the sum is
    divided by theirs, so scorers in [0, 1] give a score in [0, 1] (weights 2 and 2 gave 1.92, a
    weight of -1 gave -0.48: rewards the project's own loader then refused)."""

    def __init__(self, scorers: Sequence[Scorer], weights: Sequence[float] | None = None):
        weights = list(weights) if weights else [1.0] * len(scorers)
        if not scorers:
            raise SettingsError("no scorer given")
        if len(weights) != len(scorers):
            raise SettingsError(f"{len(weights)} weights for {len(scorers)} scorers")
        check_weights(weights)
        self.scorers, self.weights = list(scorers), [float(w) for w in weights]

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        total = np.zeros(len(audios))
        for weight, scorer in zip(self.weights, self.scorers, strict=True):
            scores = np.asarray(score_as_heard(scorer, prompts, audios, sampling_rate), dtype=float)
            if ((scores < 0) | (scores > 1)).any():
                outside = scores[(scores < 0) | (scores > 1)]
                raise ValueError(
                    f"{describe_scorer(scorer)['scorer']} gave {len(outside)} scores outside [0, 1] "
                    f"(e.g. {outside[0]:.4g}): a reward is a weighted mean of scores in [0, 1]"
                )
            total += weight * scores
        return [float(x) for x in total / sum(self.weights)]

    def describe(self) -> list[dict[str, Any]]:
        return [{**describe_scorer(s), "weight": w} for s, w in zip(self.scorers, self.weights, strict=True)]


def check_weights(weights: Sequence[float]) -> None:
    """Scorer weights are finite, ≥ 0 and not all 0 (the weighted mean is then a mean of the scores)."""
    bad = [w for w in weights if not math.isfinite(w) or w < 0]
    if bad or not any(weights):
        raise SettingsError(
            f"scorer weights must be finite, ≥ 0 and not all 0 (got {list(weights)}): a reward is their "
            "weighted mean of scores in [0, 1]"
        )


def load_scorers(texts: Sequence[str], weights: Sequence[float] | None = None) -> WeightedScorers:
    """The scorers ``texts`` name, weighted."""
    return WeightedScorers([load_scorer(t) for t in texts], weights)
