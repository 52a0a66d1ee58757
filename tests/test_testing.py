"""The tiny components are deterministic, offline, and shaped like the real ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baton_tta.tiny import tiny_clap, tiny_scheduler, tiny_tango_pipeline, tiny_tokenizer


def test_tokenizer_has_t5_special_tokens():
    tok = tiny_tokenizer()
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    batch = tok(["a dog barks", "rain"], padding=True)
    assert batch["input_ids"][0][-1] == 1 and batch["input_ids"][1][-1] == 0
    assert tok("zebra")["input_ids"] == [2, 1]


def test_builders_are_deterministic():
    a, b = tiny_tango_pipeline(seed=1), tiny_tango_pipeline(seed=1)
    c = tiny_tango_pipeline(seed=2)
    for name in ("unet", "vae", "vocoder", "text_encoder"):
        for (key, x), (_, y) in zip(
            getattr(a, name).state_dict().items(), getattr(b, name).state_dict().items()
        ):
            assert torch.equal(x, y), f"{name}.{key}"
    assert not torch.equal(a.unet.conv_in.weight, c.unet.conv_in.weight)


def test_tiny_pipeline_matches_tango_interfaces():
    pipe = tiny_tango_pipeline()
    assert pipe.unet.config.in_channels == pipe.vae.config.latent_channels == 8
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.d_model
    assert pipe.vae.config.in_channels == 1
    assert (pipe.sampling_rate, pipe.hop_length, pipe.num_mel_bins) == (16000, 160, 64)


def test_scheduler_prediction_types():
    assert tiny_scheduler().config.prediction_type == "v_prediction"
    assert tiny_scheduler("epsilon").config.prediction_type == "epsilon"
    with pytest.raises(ValueError, match="sample"):
        tiny_scheduler("sample")


def test_tiny_clap_embeds_text_and_48k_audio():
    model, extractor = tiny_clap()
    assert extractor.sampling_rate == 48000
    audio = [np.sin(np.linspace(0, 900, 48000)).astype(np.float32), np.zeros(20000, dtype=np.float32) + 0.1]
    features = extractor(audio, sampling_rate=48000, return_tensors="pt")
    tokens = tiny_tokenizer()(["a dog barks", "rain falls"], padding=True, return_tensors="pt")
    with torch.no_grad():
        audio_emb = model.get_audio_features(**features).pooler_output
        text_emb = model.get_text_features(**tokens).pooler_output
    assert audio_emb.shape == text_emb.shape == (2, 32)
    torch.testing.assert_close(audio_emb.norm(dim=-1), torch.ones(2))
