"""FD as an ``evaluate`` metric; the code is :mod:`baton_tta.metrics` (see the metric card)."""

from baton_tta.metrics import evaluate_metric


class FrechetDistance(evaluate_metric.BatonAudioMetric):
    METRIC = "FD"
    DESCRIPTION = "Fréchet distance between Gaussians fitted to PANNs Cnn14 (16 kHz) 2048-d clip embeddings of generated and reference audio (audioldm_eval's FD). Lower is better."
    REFERENCES = "audio"
