"""CLAP as an ``evaluate`` metric; the code is :mod:`baton_tta.metrics` (see the metric card)."""

from baton_tta.metrics import evaluate_metric


class ClapScore(evaluate_metric.BatonAudioMetric):
    METRIC = "CLAP"
    DESCRIPTION = "Mean cosine similarity between the CLAP text embedding of each caption and the CLAP audio embedding of its generated clip. Higher is better."
    REFERENCES = "text"
