"""Scorers by name: the BATON reward model, the CLAP score, audio-language-model judges, Audiobox
Aesthetics and the toy oracle, weighted and recorded (:mod:`baton_tta.scorers.registry`)."""

from baton_tta.scorers import kinds  # noqa: F401  (registers the built-in kinds)
from baton_tta.scorers.registry import (
    SCORER_KINDS,
    NamedScorer,
    Scorer,
    ScorerKind,
    ScorerSpec,
    WeightedScorers,
    load_scorer,
    load_scorers,
    register_scorer,
    scorer_kind,
)

__all__ = [
    "SCORER_KINDS",
    "NamedScorer",
    "Scorer",
    "ScorerKind",
    "ScorerSpec",
    "WeightedScorers",
    "load_scorer",
    "load_scorers",
    "register_scorer",
    "scorer_kind",
]
