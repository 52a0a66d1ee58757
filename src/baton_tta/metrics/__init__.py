"""Stage 4 evaluation: FD, FAD, IS, KL and CLAP score (audioldm_eval definitions)."""

from baton_tta.metrics.functions import clap_score, frechet_distance, inception_score, kl_divergence

__all__ = ["clap_score", "frechet_distance", "inception_score", "kl_divergence"]
