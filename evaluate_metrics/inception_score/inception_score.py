"""IS as an ``evaluate`` metric; the code is :mod:`baton_tta.metrics` (see the metric card)."""

from baton_tta.metrics import evaluate_metric


class InceptionScore(evaluate_metric.BatonAudioMetric):
    METRIC = "IS"
    DESCRIPTION = "Inception score of generated audio on PANNs Cnn14 class probabilities, over 10 seeded splits (audioldm_eval's IS, seed 2020). Higher is better."
    REFERENCES = None
