"""The metric code against maintained outside implementations (the ``crosscheck`` extra), on the same
inputs and the same random weights: torchmetrics' Fréchet distance, the PANNs authors' Cnn14
(``panns-inference``) and the PyTorch VGGish port (``torchvggish``, the network FAD libraries load).

frechet-audio-distance and fadtk would be the natural FAD references, but neither installs with this
stack (both resolve laion-clap with numpy<2 and a CUDA torch), so they are not tested here.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from baton_tta.metrics.cnn14 import load_cnn14
from baton_tta.metrics.functions import frechet_distance
from baton_tta.metrics.vggish import load_vggish, waveform_to_examples

# Outside libraries are imported inside the tests, each under a guard that names why it is missing.
EXTRA = "the crosscheck extra is not installed: pip install -e '.[crosscheck]'"


def perturbed_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The module's state with every float tensor moved off its initial value (BatchNorm starts at
    1/0 and mean 0/var 1, which would hide a swapped or skipped tensor)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and "extractor" not in name:
            noise = torch.randn(tensor.shape, generator=generator) * 0.05
            tensor = tensor + (noise.abs() if "running_var" in name else noise)
        state[name] = tensor.clone()
    return state


def test_frechet_distance_matches_torchmetrics():
    fid = pytest.importorskip("torchmetrics.image.fid", reason=EXTRA)

    class Identity(torch.nn.Module):
        num_features = 12

        def forward(self, x):
            return x

    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 12))
    generated = rng.normal(size=(250, 12)) @ rng.normal(size=(12, 12)) * 0.5 + 0.7
    metric = fid.FrechetInceptionDistance(feature=Identity())
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(generated), real=False)
    theirs = float(metric.compute())
    ours = frechet_distance(generated, real)
    assert ours > 1.0  # a real distance, not a degenerate zero
    assert ours == pytest.approx(theirs, rel=1e-6)


@pytest.fixture
def panns_models(tmp_path, monkeypatch):
    """``panns_inference.models``; its package ``__init__`` fetches AudioSet's label CSV into
    ``~/panns_data`` with wget when missing, so a home with that file is provided first."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "panns_data").mkdir()
    rows = ["index,mid,display_name"] + [f'{i},/m/{i},"class {i}"' for i in range(527)]
    (tmp_path / "panns_data" / "class_labels_indices.csv").write_text("\n".join(rows) + "\n")
    pytest.importorskip("torchlibrosa", reason=EXTRA)
    try:
        return importlib.import_module("panns_inference.models")
    except ImportError:
        pytest.skip(EXTRA)


def test_cnn14_matches_the_panns_authors_network(panns_models, tmp_path):
    theirs = panns_models.Cnn14(
        sample_rate=16000, window_size=512, hop_size=160, mel_bins=64, fmin=50, fmax=8000, classes_num=527
    ).eval()
    state = perturbed_state(theirs, seed=0)
    theirs.load_state_dict(state)
    torch.save({"model": state}, tmp_path / "Cnn14_16k.pth")
    ours = load_cnn14(tmp_path / "Cnn14_16k.pth")  # the public-checkpoint path users take
    waveform = torch.from_numpy(np.random.default_rng(1).uniform(-0.5, 0.5, (2, 32000)).astype(np.float32))
    with torch.no_grad():
        reference = theirs(waveform)
        embedding, logits = ours(waveform)
    scale = reference["embedding"].abs().max()
    assert scale > 0
    torch.testing.assert_close(embedding, reference["embedding"], rtol=0, atol=1e-4 * float(scale))
    torch.testing.assert_close(torch.sigmoid(logits), reference["clipwise_output"], rtol=0, atol=1e-5)


def test_vggish_matches_the_pytorch_port(tmp_path):
    torchvggish = pytest.importorskip("torchvggish", reason=EXTRA)
    theirs = torchvggish.torchvggish._vgg(postprocess=False).eval()  # network only: no download
    state = perturbed_state(theirs, seed=2)
    theirs.load_state_dict(state)
    torch.save(state, tmp_path / "vggish-10086976.pth")
    ours = load_vggish(tmp_path / "vggish-10086976.pth")

    rng = np.random.default_rng(3)
    waveform = (0.3 * np.sin(2 * np.pi * 440 * np.arange(40000) / 16000) + rng.normal(0, 0.05, 40000)).clip(
        -1, 1
    )
    examples = waveform_to_examples(waveform.astype(np.float32))
    reference_examples = torchvggish.vggish_input.waveform_to_examples(waveform, 16000, return_tensor=False)
    assert examples.shape == (2, 1, 96, 64) and reference_examples.shape == (2, 96, 64)
    np.testing.assert_allclose(examples[:, 0], reference_examples, rtol=0, atol=1e-4)

    inputs = torch.from_numpy(examples)
    with torch.no_grad():
        reference = theirs(inputs)  # the port ends in ReLU; FAD reads the layer before it
        embedding = ours(inputs)
    assert (embedding < 0).any()  # ours is taken before that ReLU
    torch.testing.assert_close(torch.relu(embedding), reference, rtol=1e-5, atol=1e-5)
