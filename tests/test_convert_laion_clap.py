"""LAION-CLAP checkpoints → transformers CLAP: the key mapping on LAION's real key names and shapes
(fixture written by ``benchmarks/verify_laion_clap_import.py`` from ``laion_clap.CLAP_Module``), the
file checks, a full conversion round trip on a tiny model, and a reward model trained on the result."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ClapConfig, ClapModel, ClapProcessor

from baton_tta.cli import main as cli_main
from baton_tta.convert_laion_clap import (
    DROPPED_PREFIXES,
    check_key_coverage,
    clap_config_from_laion,
    convert_laion_clap,
    convert_laion_state_dict,
    laion_feature_extractor,
    read_laion_checkpoint,
)
from baton_tta.reward import BatonRewardModel, RewardTrainingConfig, train_reward_model
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy.tones import tone_labelled_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "laion_clap_keys.json.gz"


def laion_keys() -> dict[str, dict[str, list[int]]]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def meta_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize(
    ("variant", "depths", "width", "fusion"),
    [
        ("htsat-tiny", [2, 2, 6, 2], 768, False),
        ("htsat-tiny-fusion", [2, 2, 6, 2], 768, True),
        ("htsat-base", [2, 2, 12, 2], 1024, False),
    ],
)
def test_every_real_laion_key_maps_onto_clap_model(variant, depths, width, fusion):
    state = meta_state(laion_keys()[variant])
    config = clap_config_from_laion(state)
    assert list(config.audio_config.depths) == depths and config.audio_config.hidden_size == width
    assert config.audio_config.enable_fusion is fusion and config.audio_config.window_size == 8
    assert list(config.audio_config.num_attention_heads) == [4, 8, 16, 32]
    assert config.text_config.num_hidden_layers == 12 and config.text_config.vocab_size == 50265
    assert config.projection_dim == 512
    converted, dropped = convert_laion_state_dict(state)
    with torch.device("meta"):
        expected = ClapModel(config).state_dict()
    check_key_coverage(converted, expected, variant)  # raises on any unused, missing or misshapen key
    # every dropped tensor has a stated reason, and nothing a model computes with is dropped
    assert not any(
        key.startswith(("text_branch.encoder", "audio_branch.layers")) and "attn_mask" not in key
        for key in dropped
    )
    assert {k for k in dropped if k.startswith("text_transform.")} and {
        k for k in dropped if ".attn_mask" in k
    }
    assert len(converted) + len(dropped) == len(state) + sum(
        2 for key in state if ".attn.qkv." in key
    )  # one qkv tensor becomes three
    assert set(dropped.values()) <= set(DROPPED_PREFIXES.values()) | {
        "shifted-window attention mask, recomputed from the window size"
    }


def test_a_missing_or_unknown_key_is_named():
    state = meta_state(laion_keys()["htsat-tiny"])
    config = clap_config_from_laion(state)
    with torch.device("meta"):
        expected = ClapModel(config).state_dict()
    broken = dict(state)
    del broken["audio_branch.layers.2.blocks.3.attn.qkv.weight"]
    broken["audio_branch.extra_head.weight"] = torch.empty(3, device="meta")
    converted, _ = convert_laion_state_dict(broken)
    with pytest.raises(ValueError) as error:
        check_key_coverage(converted, expected, "ckpt.pt")
    message = str(error.value)
    assert "ckpt.pt" in message and "audio_model.audio_encoder.extra_head.weight" in message
    assert "audio_model.audio_encoder.layers.2.blocks.3.attention.self.query.weight" in message


def test_a_bert_text_tower_is_refused():
    state = meta_state(laion_keys()["htsat-tiny"])
    state["text_branch.embeddings.token_type_embeddings.weight"] = torch.empty(2, 768, device="meta")
    with pytest.raises(ValueError, match="so it is BERT, not RoBERTa"):
        clap_config_from_laion(state)


def test_qkv_is_split_in_query_key_value_order():
    qkv = torch.arange(12.0).reshape(6, 2)
    converted, _ = convert_laion_state_dict({"audio_branch.layers.0.blocks.0.attn.qkv.weight": qkv})
    prefix = "audio_model.audio_encoder.layers.0.blocks.0.attention.self."
    assert torch.equal(converted[prefix + "query.weight"], qkv[:2])
    assert torch.equal(converted[prefix + "key.weight"], qkv[2:4])
    assert torch.equal(converted[prefix + "value.weight"], qkv[4:])


# ----------------------------------------------------------------------------- a tiny real conversion
_TO_LAION = (
    ("text_model.", "text_branch."),
    ("audio_model.audio_encoder.batch_norm.", "audio_branch.bn0."),
    ("audio_model.audio_encoder.", "audio_branch."),
    (".layernorm_before.", ".norm1."),
    (".layernorm_after.", ".norm2."),
    (".attention.output.dense.", ".attn.proj."),
    (".attention.self.relative_position", ".attn.relative_position"),
    (".intermediate.dense.", ".mlp.fc1."),
    (".output.dense.", ".mlp.fc2."),
    ("_projection.linear1.", "_projection.0."),
    ("_projection.linear2.", "_projection.2."),
)


def laion_layout(model: ClapModel) -> dict[str, torch.Tensor]:
    """A transformers CLAP state dict laid out as LAION saves one (names, fused qkv, extra heads)."""
    state: dict[str, torch.Tensor] = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("text_model.embeddings.token_type_ids"):
            continue
        if key.startswith("audio_model") and (
            m := re.match(r"(.*)\.attention\.self\.(query|key|value)\.(\w+)$", key)
        ):
            pending.setdefault(f"{m.group(1)}.{m.group(3)}", {})[m.group(2)] = tensor
            continue
        name = key
        for ours, theirs in _TO_LAION:
            if name.startswith("text_branch.") and theirs in (".mlp.fc1.", ".mlp.fc2.", ".attn.proj."):
                continue
            name = name.replace(ours, theirs)
        state[name] = tensor
    for base, parts in pending.items():
        stem, kind = base.rsplit(".", 1)
        for ours, theirs in _TO_LAION[1:3]:
            stem = stem.replace(ours, theirs)
        state[f"{stem}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    state["text_transform.sequential.0.weight"] = torch.zeros(4, 4)
    state["audio_branch.tscam_conv.weight"] = torch.zeros(3, 16, 2, 3)
    return {f"module.{k}": v for k, v in state.items()}


def tiny_laion_shaped_clap() -> ClapModel:
    """HTSAT at LAION's fixed spec size / mel bins / stride but a few channels; a 64-wide RoBERTa."""
    torch.manual_seed(0)
    text = dict(
        vocab_size=len(tiny_tokenizer()),
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=32,
        max_position_embeddings=80,
        layer_norm_eps=1e-5,
        projection_dim=16,
    )
    audio = dict(
        patch_embeds_hidden_size=8,
        hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[1, 2],
        window_size=8,
        num_classes=3,
        projection_dim=16,
    )
    model = ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model


@pytest.fixture
def tiny_laion_checkpoint(tmp_path):
    model = tiny_laion_shaped_clap()
    tokenizer_dir = tmp_path / "tokenizer"
    tiny_tokenizer().save_pretrained(tokenizer_dir)
    path = tmp_path / "tiny-clap.pt"
    state = laion_layout(model)
    state["module.audio_branch.logmel_extractor.melW"] = torch.from_numpy(
        np.asarray(laion_feature_extractor(False).mel_filters_slaney, dtype=np.float32)
    )
    torch.save({"epoch": 3, "state_dict": state}, path)
    return model, path, tokenizer_dir


def test_conversion_round_trip_gives_the_same_embeddings(tiny_laion_checkpoint, tmp_path, capsys):
    model, path, tokenizer_dir = tiny_laion_checkpoint
    out = tmp_path / "converted"
    cli_main(
        [
            "convert-laion-clap",
            "--checkpoint",
            str(path),
            "--output_dir",
            str(out),
            "--tokenizer_name_or_path",
            str(tokenizer_dir),
        ]
    )
    printed = capsys.readouterr().out
    assert "depths=[1, 1]" in printed and "AudioSet tagging head" in printed
    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
    converted = ClapModel.from_pretrained(out).eval()
    processor = ClapProcessor.from_pretrained(out)
    assert (
        processor.feature_extractor.frequency_min == 50
        and processor.feature_extractor.truncation == "rand_trunc"
    )
    tokens = processor.tokenizer(["a dog barks", "rain"], padding=True, return_tensors="pt")
    features = torch.randn(2, 1, 1001, 64)
    with torch.no_grad():
        for side, inputs in (
            ("get_text_features", dict(tokens)),
            ("get_audio_features", {"input_features": features}),
        ):
            ours = getattr(converted, side)(**inputs).pooler_output
            source = getattr(model, side)(**inputs).pooler_output
            torch.testing.assert_close(ours, source, rtol=0, atol=1e-6)


def test_a_changed_mel_front_end_is_refused(tiny_laion_checkpoint, tmp_path):
    _, path, tokenizer_dir = tiny_laion_checkpoint
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["module.audio_branch.logmel_extractor.melW"] *= 1.1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="mel filter bank differs"):
        convert_laion_clap(path, tmp_path / "out", str(tokenizer_dir))
    assert not (tmp_path / "out").exists()


class NotATensor:
    pass


def test_a_checkpoint_that_needs_pickle_is_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "args": NotATensor()}, path)
    with pytest.raises(ValueError, match=r"pickled\.pt: not loadable with torch.load\(weights_only=True\)"):
        read_laion_checkpoint(path)


def test_reward_model_trains_on_a_laion_checkpoint(tiny_laion_checkpoint, tmp_path):
    source, path, tokenizer_dir = tiny_laion_checkpoint
    model = BatonRewardModel.from_clap(path, laion_tokenizer=str(tokenizer_dir), head_hidden_sizes=[16])
    for key, value in source.state_dict().items():
        assert torch.equal(model.clap.state_dict()[key], value), key
    config = RewardTrainingConfig(preset=None, num_epochs=2, batch_size=8, learning_rate=0.01, seed=0)
    result = train_reward_model(model, tone_labelled_dataset(24), config, tmp_path / "cache", tmp_path / "rm")
    assert result.train_rows + result.validation_rows == 24 and len(result.history) == 2
    reloaded = BatonRewardModel.from_pretrained(tmp_path / "rm")
    assert reloaded.processor.feature_extractor.frequency_min == 50
