"""The evaluation metrics of the BATON paper (Table 4), as pure functions on arrays.

Definitions follow the reference toolkit TANGO and BATON report with (audioldm_eval), so numbers
are comparable with published tables: FD on PANNs Cnn14 2048-d embeddings, FAD on VGGish 128-d
frame embeddings (the same Fréchet formula), KL and IS on Cnn14's 527-class logits, and CLAP score as
the mean cosine similarity of paired text and audio embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.linalg

logger = logging.getLogger(__name__)

SINGULAR_OFFSET = 1e-6
IMAGINARY_TOLERANCE = 1e-3
KL_EPS = 1e-6


def frechet_distance(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows = items):

    ``‖μa − μb‖² + Tr(Σa) + Tr(Σb) − 2·Tr((Σa Σb)^½)``.

    As audioldm_eval: when the matrix square root is not finite, ``1e-6·I`` is added to both
    covariances; a complex result with a diagonal imaginary part above 1e-3 is an error, a smaller
    one is discarded.
    """
    a, b = np.asarray(embeddings_a, np.float64), np.asarray(embeddings_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be 2-D with the same width, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 items per set for a covariance, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a, sigma_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        logger.warning(
            "Fréchet distance: singular product; adding %g to the covariance diagonals", SINGULAR_OFFSET
        )
        offset = np.eye(sigma_a.shape[0]) * SINGULAR_OFFSET
        covmean = scipy.linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.abs(np.diagonal(covmean).imag).max()
        if imaginary > IMAGINARY_TOLERANCE:
            raise ValueError(f"Fréchet distance: matrix square root has an imaginary part of {imaginary:.3g}")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def kl_divergence(
    logits_reference: np.ndarray,
    logits_generated: np.ndarray,
    ids_reference: Sequence[str],
    ids_generated: Sequence[str],
    activation: str = "softmax",
) -> float:
    """KL(reference ‖ generated) summed over classes and averaged over pairs, pairs matched by clip id
    (never by order), as audioldm_eval: ``Σ_c p_ref·(log p_ref − log(p_gen + 1e-6))`` with p the
    softmax (AudioGen's formulation) or the element-wise sigmoid of the logits."""
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}")
    ref, gen = np.asarray(logits_reference, np.float64), np.asarray(logits_generated, np.float64)
    if len(ids_reference) != len(ref) or len(ids_generated) != len(gen):
        raise ValueError("each logits row needs exactly one id")
    if len(set(ids_reference)) != len(ids_reference) or len(set(ids_generated)) != len(ids_generated):
        raise ValueError("clip ids must be unique within each set")
    unpaired = sorted(set(ids_reference) ^ set(ids_generated))
    if unpaired:
        raise ValueError(f"{len(unpaired)} clip id(s) have no partner in the other set: {unpaired[:5]}")
    order = {clip: i for i, clip in enumerate(ids_generated)}
    gen = gen[[order[clip] for clip in ids_reference]]
    activate = _softmax if activation == "softmax" else _sigmoid
    p_ref, p_gen = activate(ref), activate(gen)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_ref > 0, p_ref * (np.log(p_ref) - np.log(p_gen + KL_EPS)), 0.0)
    return float(terms.sum() / len(ref))


def inception_score(
    logits_generated: np.ndarray, splits: int = 10, seed: int = 2020, shuffle: bool = True
) -> tuple[float, float]:
    """Inception score on classifier logits, as audioldm_eval: rows shuffled with ``seed``, cut into
    ``splits`` chunks, per chunk ``exp(mean_i KL(p_i ‖ mean_chunk p))``; returns (mean, std)."""
    logits = np.asarray(logits_generated, np.float64)
    n = len(logits)
    if n < splits:
        raise ValueError(f"need at least {splits} clips for {splits} splits, got {n}")
    if shuffle:
        logits = logits[np.random.RandomState(seed).permutation(n)]
    p = _softmax(logits)
    log_p = np.log(np.clip(p, 1e-300, None))
    scores = []
    for i in range(splits):
        chunk, log_chunk = (
            p[i * n // splits : (i + 1) * n // splits],
            log_p[i * n // splits : (i + 1) * n // splits],
        )
        q = chunk.mean(axis=0, keepdims=True)
        scores.append(float(np.exp((chunk * (log_chunk - np.log(q))).sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


def paired_cosines(text_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of each paired (caption, clip) CLAP embedding, row i with row i."""
    text, audio = np.asarray(text_embeddings, np.float64), np.asarray(audio_embeddings, np.float64)
    if text.shape != audio.shape:
        raise ValueError(f"paired embeddings must have the same shape, got {text.shape} and {audio.shape}")
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    audio = audio / np.linalg.norm(audio, axis=1, keepdims=True)
    return (text * audio).sum(axis=1)


def clap_score(text_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> float:
    """Mean cosine similarity of paired (caption, clip) CLAP embeddings, row i with row i."""
    return float(paired_cosines(text_embeddings, audio_embeddings).mean())


#: kadtk reports KAD × 100 (its ``SCALE_FACTOR``), so its numbers sit near FAD's
KAD_SCALE = 100.0
KAD_EPS = 1e-8


def kernel_audio_distance(
    generated: np.ndarray, reference: np.ndarray, bandwidth: float | None = None
) -> float:
    """Kernel Audio Distance (Chung et al. 2025, the ``kadtk`` toolkit's definition): the unbiased
    squared MMD between the two embedding sets under a Gaussian kernel ``exp(−‖a−b‖² / (2σ²))``, × 100.
    ``σ`` defaults to the median pairwise distance of the reference set (the lower median, as
    ``torch.median``). Unlike FD it assumes no Gaussian and is unbiased at small sample sizes."""
    x, y = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KAD needs two (clips, dim) arrays of one width, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"KAD needs at least 2 clips per set, got {len(x)} and {len(y)}")
    if bandwidth is None:
        bandwidth = kad_bandwidth(y)
    gamma = 1.0 / (2.0 * bandwidth**2 + KAD_EPS)
    m, n = len(x), len(y)
    k_xx = np.exp(-gamma * _squared_distances(x, x))
    k_yy = np.exp(-gamma * _squared_distances(y, y))
    k_xy = np.exp(-gamma * _squared_distances(x, y))
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(KAD_SCALE * (within_x + within_y - 2.0 * k_xy.mean()))


def kad_bandwidth(reference: np.ndarray) -> float:
    """KAD's default kernel width: the reference set's median pairwise distance (the lower median).
    Refused when it is 0 — references that are all one clip give the kernel no scale (three identical
    references gave a KAD of 199)."""
    y = np.asarray(reference, np.float64)
    distances = np.sort(np.sqrt(_squared_distances(y, y)[np.triu_indices(len(y), k=1)]))
    width = float(distances[(len(distances) - 1) // 2]) if len(distances) else 0.0
    if width <= 0:
        raise ValueError(
            f"the {len(y)} reference clips are (at least half of them) identical: their median pairwise "
            "embedding distance is 0, so KAD has no kernel width; give distinct reference clips"
        )
    return width


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)
