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


def _tiny_cnn14_config():
    from baton_tta.metrics.cnn14 import Cnn14Config

    return Cnn14Config(channels=(4, 8, 8, 16, 16, 32), classes_num=10)


def test_cnn14_front_end_matches_librosa():
    librosa = pytest.importorskip("librosa")
    import torch

    from baton_tta.metrics.cnn14 import Cnn14

    model = Cnn14(_tiny_cnn14_config())
    wave = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.3
    with torch.no_grad():
        power = model.spectrogram_extractor(torch.from_numpy(wave)[None])[0, 0].numpy()
    reference = (
        np.abs(librosa.stft(wave, n_fft=512, hop_length=160, window="hann", center=True, pad_mode="reflect"))
        ** 2
    )
    np.testing.assert_allclose(power, reference.T, rtol=1e-3, atol=1e-3)
    mel = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=50, fmax=8000)
    np.testing.assert_allclose(model.logmel_extractor.melW.numpy(), mel.T, atol=1e-7)


def test_cnn14_outputs_and_public_key_names(tmp_path):
    import torch

    from baton_tta.metrics.cnn14 import Cnn14, load_cnn14

    torch.manual_seed(0)
    model = Cnn14(_tiny_cnn14_config())
    embedding, logits = model(torch.randn(3, 16000) * 0.1)
    assert embedding.shape == (3, 32) and logits.shape == (3, 10)
    keys = set(model.state_dict())
    assert {
        "spectrogram_extractor.stft.conv_real.weight",
        "logmel_extractor.melW",
        "bn0.running_mean",
        "conv_block1.conv1.weight",
        "conv_block6.bn2.num_batches_tracked",
        "fc1.weight",
        "fc_audioset.bias",
    } <= keys
    torch.save({"model": model.state_dict(), "iteration": 0}, tmp_path / "Cnn14.pth")
    loaded = load_cnn14(tmp_path / "Cnn14.pth", _tiny_cnn14_config())
    wave = torch.randn(2, 16000) * 0.1
    torch.testing.assert_close(loaded(wave)[1], model(wave)[1])
    renamed = {
        ("fc_audioset.weightX" if k == "fc_audioset.weight" else k): v for k, v in model.state_dict().items()
    }
    torch.save({"model": renamed}, tmp_path / "renamed.pth")
    with pytest.raises(
        ValueError, match=r"missing \['fc_audioset.weight'\], unexpected \['fc_audioset.weightX'\]"
    ):
        load_cnn14(tmp_path / "renamed.pth", _tiny_cnn14_config())


def test_vggish_front_end_properties():
    from baton_tta.metrics.vggish import MEL_HIGH, MEL_LOW, htk_mel_matrix, waveform_to_examples

    weights = htk_mel_matrix()
    assert weights.shape == (257, 64) and not weights[0].any()
    frequencies = np.linspace(0, 8000, 257)
    active = frequencies[weights.sum(axis=1) > 0]
    assert active.min() > MEL_LOW and active.max() < MEL_HIGH
    assert weights.max(axis=0).min() > 0.5  # every band covers at least one bin near its peak
    tone = np.sin(2 * np.pi * 1000 * np.arange(32000) / 16000)
    examples = waveform_to_examples(tone)
    assert examples.shape == (2, 1, 96, 64)  # 198 frames of 10 ms → two 0.96 s examples
    loudest = examples[0, 0].mean(axis=0).argmax()
    centre = np.argmax(weights, axis=0)[loudest] * 8000 / 256
    assert abs(centre - 1000) < 100
    assert waveform_to_examples(np.zeros(300)).shape == (0, 1, 96, 64)


def test_vggish_public_key_names(tmp_path):
    import torch

    from baton_tta.metrics.vggish import VGGish, VGGishConfig, load_vggish

    config = VGGishConfig(conv_channels=(4, 4, 8, 8, 8, 8), hidden=16, embedding=12)
    torch.manual_seed(0)
    model = VGGish(config)
    layers = (
        "features.0",
        "features.3",
        "features.6",
        "features.8",
        "features.11",
        "features.13",
        "embeddings.0",
        "embeddings.2",
        "embeddings.4",
    )
    assert set(model.state_dict()) == {f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")}
    embeddings = model.embed_waveform(np.random.default_rng(0).normal(size=48000) * 0.1)
    assert embeddings.shape == (3, 12) and (embeddings < 0).any()  # before the last ReLU
    state = {**model.state_dict(), "pproc._pca_means": torch.zeros(12, 1)}
    torch.save(state, tmp_path / "vggish.pth")
    loaded = load_vggish(tmp_path / "vggish.pth", config)
    np.testing.assert_allclose(
        loaded.embed_waveform(np.ones(16000) * 0.1), model.embed_waveform(np.ones(16000) * 0.1)
    )
    del state["embeddings.4.bias"]
    state["embeddings.4.biases"] = torch.zeros(12)
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(
        ValueError, match=r"missing \['embeddings.4.bias'\], unexpected \['embeddings.4.biases'\]"
    ):
        load_vggish(tmp_path / "renamed.pth", config)
    torch.save({"weights": object()}, tmp_path / "pickle.pth")
    with pytest.raises(ValueError, match="weights_only"):
        load_vggish(tmp_path / "pickle.pth", config)
