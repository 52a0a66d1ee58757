"""KL as an ``evaluate`` metric; the code is :mod:`baton_tta.metrics` (see the metric card)."""

from baton_tta.metrics import evaluate_metric


class KLDivergence(evaluate_metric.BatonAudioMetric):
    METRIC = "KL"
    DESCRIPTION = "KL(reference ‖ generated) of PANNs Cnn14 class probabilities (softmax), summed over classes and averaged over clip pairs (audioldm_eval's KL). Lower is better."
    REFERENCES = "audio"
