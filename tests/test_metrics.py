"""Metric values against closed forms and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from baton_tta.metrics import clap_score, frechet_distance, inception_score, kl_divergence


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 8))
    assert abs(frechet_distance(x, x)) < 1e-6


def test_frechet_distance_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(1)
    mu_a, mu_b = np.array([0.0, 1.0, -1.0]), np.array([2.0, 0.5, 0.0])
    cov_a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    cov_b = np.array([[1.0, -0.2, 0.1], [-0.2, 1.5, 0.0], [0.1, 0.0, 0.8]])
    a = rng.multivariate_normal(mu_a, cov_a, size=4000)
    b = rng.multivariate_normal(mu_b, cov_b, size=4000)
    # the closed form on the sample statistics the function sees
    ma, mb, sa, sb = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (
        ((ma - mb) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(scipy.linalg.sqrtm(sa @ sb).real)
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    # and the population value (1-D: (μa−μb)² + (σa−σb)²) within sampling error
    x, y = rng.normal(1.0, 2.0, size=(20000, 1)), rng.normal(-1.0, 0.5, size=(20000, 1))
    assert frechet_distance(x, y) == pytest.approx(4.0 + 1.5**2, rel=0.02)


def test_frechet_distance_input_checks():
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 2 items"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))


def test_kl_is_zero_for_identical_logits_and_positive_otherwise():
    logits = np.random.default_rng(2).normal(size=(5, 7))
    ids = [f"clip{i}" for i in range(5)]
    assert kl_divergence(logits, logits, ids, ids) == pytest.approx(0.0, abs=1e-5)
    other = np.random.default_rng(3).normal(size=(5, 7))
    assert kl_divergence(logits, other, ids, ids) > 0
    assert kl_divergence(logits, other, ids, ids, activation="sigmoid") != kl_divergence(
        logits, other, ids, ids
    )


def test_kl_matches_a_hand_computation_and_pairs_by_id():
    ref = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    gen = np.log(np.array([[0.8, 0.2], [0.25, 0.75]]))
    kl_1 = 0.5 * math.log(0.5 / (0.25 + 1e-6)) + 0.5 * math.log(0.5 / (0.75 + 1e-6))  # pair "b"
    kl_2 = 0.9 * math.log(0.9 / (0.8 + 1e-6)) + 0.1 * math.log(0.1 / (0.2 + 1e-6))  # pair "a"
    # generated rows come in the other order: they are matched by id, not by position
    value = kl_divergence(ref, gen, ["b", "a"], ["a", "b"])
    assert value == pytest.approx((kl_1 + kl_2) / 2, rel=1e-9)


def test_kl_refuses_unpaired_inputs():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"1 clip id\(s\) have no partner|2 clip id\(s\) have no partner"):
        kl_divergence(x, x, ["a", "b"], ["a", "c"])
    with pytest.raises(ValueError, match="unique"):
        kl_divergence(x, x, ["a", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="one id"):
        kl_divergence(x, x, ["a"], ["a", "b"])


def test_inception_score_extremes():
    same = np.tile(np.array([[3.0, 0.1, -2.0, 0.5]]), (40, 1))
    mean, std = inception_score(same, splits=4)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0)
    one_hot = np.eye(10) * 1000.0  # ten distinct, certain predictions
    mean, _ = inception_score(one_hot, splits=1)
    assert mean == pytest.approx(10.0, rel=1e-9)
    with pytest.raises(ValueError, match="at least 10 clips"):
        inception_score(np.zeros((5, 3)))


def test_inception_score_is_seeded():
    logits = np.random.default_rng(4).normal(size=(50, 6)) * 3
    assert inception_score(logits, splits=5, seed=1) == inception_score(logits, splits=5, seed=1)


def test_clap_score_is_the_mean_cosine():
    text = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    audio = np.array([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    assert clap_score(text, audio) == pytest.approx((1.0 + 0.0 - 1.0) / 3)
    with pytest.raises(ValueError, match="same shape"):
        clap_score(text, audio[:2])
