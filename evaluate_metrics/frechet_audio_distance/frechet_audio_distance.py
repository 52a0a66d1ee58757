"""FAD as an ``evaluate`` metric; the code is :mod:`baton_tta.metrics` (see the metric card)."""

from baton_tta.metrics import evaluate_metric


class FrechetAudioDistance(evaluate_metric.BatonAudioMetric):
    METRIC = "FAD"
    DESCRIPTION = "Fréchet distance between Gaussians fitted to VGGish 128-d frame embeddings (before the last ReLU, no PCA) of generated and reference audio (audioldm_eval's FAD). Lower is better."
    REFERENCES = "audio"
