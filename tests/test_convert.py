"""TANGO original checkpoint → diffusers TangoPipeline: exact weights, same outputs, key reporting."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DiffusionPipeline, UNet2DConditionModel

from baton_tta.pipelines.convert_tango import (
    convert_tango_checkpoint,
    convert_tango_to_diffusers,
    fold_weight_norm,
    load_original_state_dict,
    shipped_config,
)
from baton_tta.pipelines.export_tango import write_original_tango_checkpoint
from baton_tta.tiny import tiny_tango_pipeline, tiny_vocoder_config
from helpers import generator


@pytest.fixture
def source():
    pipe = tiny_tango_pipeline(seed=4)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _convert(source, directory, **kwargs):
    write_original_tango_checkpoint(source, directory)
    return convert_tango_checkpoint(
        directory,
        unet_config=dict(source.unet.config),
        vocoder_config=tiny_vocoder_config().to_dict(),
        **kwargs,
    )


def test_converted_weights_are_identical(source, tmp_path):
    pipe, report = _convert(source, tmp_path)
    assert report.ok, report.describe()
    assert report.mel_basis_max_abs_diff == 0.0
    for name in ("unet", "vae", "vocoder", "text_encoder"):
        expected, converted = getattr(source, name).state_dict(), getattr(pipe, name).state_dict()
        assert expected.keys() == converted.keys(), name
        for key in expected:
            assert torch.equal(expected[key], converted[key]), f"{name}.{key}"


def test_converted_pipeline_reproduces_source_outputs(source, tmp_path):
    pipe, _ = _convert(source, tmp_path)
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn(2, 8, 50, 32, generator=generator(1))
    text, mask = source.encode_text(["a dog barks", "rain falls and wind"])
    with torch.no_grad():
        for model in (source, pipe):
            model.unet.eval()
        unet_src = source.unet(latents, 500, encoder_hidden_states=text, encoder_attention_mask=mask).sample
        unet_new = pipe.unet(latents, 500, encoder_hidden_states=text, encoder_attention_mask=mask).sample
        torch.testing.assert_close(unet_new, unet_src, rtol=0, atol=0)
        mel_src, mel_new = source.decode_latents(latents), pipe.decode_latents(latents)
        torch.testing.assert_close(mel_new, mel_src, rtol=0, atol=0)
        torch.testing.assert_close(
            pipe.mel_spectrogram_to_waveform(mel_new), source.mel_spectrogram_to_waveform(mel_src)
        )
        torch.testing.assert_close(
            pipe.encode_text(["a dog barks"])[0], source.encode_text(["a dog barks"])[0]
        )
    audio_src = source(
        "a dog barks", audio_length_in_s=0.5, num_inference_steps=2, generator=generator(3)
    ).audios
    audio_new = pipe(
        "a dog barks", audio_length_in_s=0.5, num_inference_steps=2, generator=generator(3)
    ).audios
    assert (audio_src == audio_new).all()


def test_mismatched_keys_are_reported_by_name(source, tmp_path):
    write_original_tango_checkpoint(source, tmp_path)
    main = torch.load(tmp_path / "pytorch_model_main.bin", weights_only=True)
    del main["unet.conv_in.weight"]
    main["unet.group_in.0.weight"] = torch.zeros(2, 2)
    torch.save(main, tmp_path / "pytorch_model_main.bin")
    vae = torch.load(tmp_path / "pytorch_model_vae.bin", weights_only=True)
    vae["encoder.mystery.weight"] = torch.zeros(1)
    torch.save(vae, tmp_path / "pytorch_model_vae.bin")
    kwargs = {"unet_config": dict(source.unet.config), "vocoder_config": tiny_vocoder_config().to_dict()}
    with pytest.raises(ValueError) as error:
        convert_tango_checkpoint(tmp_path, **kwargs)
    message = str(error.value)
    assert "unet: 1 missing keys: conv_in.weight" in message
    assert "group_in.0.weight" in message
    assert "encoder.mystery.weight" in message
    _, report = convert_tango_checkpoint(tmp_path, strict=False, **kwargs)
    assert report.components["unet"].missing_keys == ["conv_in.weight"]
    assert report.components["unet"].unexpected_keys == ["group_in.0.weight"]
    assert report.components["vae"].unexpected_keys == ["encoder.mystery.weight"]
    assert report.components["vocoder"].ok and report.components["text_encoder"].ok


class NotATensor:
    pass


def test_refuses_arbitrary_pickles(tmp_path):
    torch.save({"weight": NotATensor()}, tmp_path / "evil.bin")
    with pytest.raises(ValueError, match="refusing to load"):
        load_original_state_dict(tmp_path / "evil.bin")
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        load_original_state_dict(tmp_path / "missing.bin")


def test_weight_norm_pairs_are_folded():
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(3, 4, 5))
    g = conv.parametrizations.weight.original0.detach()
    v = conv.parametrizations.weight.original1.detach()
    folded = fold_weight_norm({"conv_pre.weight_g": g, "conv_pre.weight_v": v, "conv_pre.bias": conv.bias})
    assert set(folded) == {"conv_pre.weight", "conv_pre.bias"}
    torch.testing.assert_close(folded["conv_pre.weight"], conv.weight.detach())
    with pytest.raises(ValueError, match="weight_g"):
        fold_weight_norm({"x.weight_v": v})


def test_stft_config_must_match_vocoder(source, tmp_path):
    write_original_tango_checkpoint(source, tmp_path)
    stft = json.loads((tmp_path / "stft_config.json").read_text())
    stft["hop_length"] = 256
    (tmp_path / "stft_config.json").write_text(json.dumps(stft))
    with pytest.raises(ValueError, match="hop_length=256"):
        convert_tango_checkpoint(
            tmp_path, unet_config=dict(source.unet.config), vocoder_config=tiny_vocoder_config().to_dict()
        )


def test_converted_folder_loads_with_remote_code(source, tmp_path):
    write_original_tango_checkpoint(source, tmp_path / "original")
    report = convert_tango_to_diffusers(
        tmp_path / "original",
        tmp_path / "converted",
        unet_config=dict(source.unet.config),
        vocoder_config=tiny_vocoder_config().to_dict(),
    )
    assert report.ok
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "converted", trust_remote_code=True)
    assert torch.equal(loaded.unet.conv_in.weight, source.unet.conv_in.weight)


def test_shipped_tango_unet_config_is_tango_size():
    config = shipped_config("tango_unet")
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config)
    params = sum(p.numel() for p in unet.parameters())
    assert params == pytest.approx(865.9e6, rel=1e-3)
    assert unet.config.in_channels == 8 and unet.config.cross_attention_dim == 1024
    assert shipped_config("tango_scheduler")["prediction_type"] == "v_prediction"
    assert shipped_config("tango_vocoder")["upsample_rates"] == [5, 4, 2, 2, 2]


def test_conversion_script(source, tmp_path):
    import json as _json
    import subprocess
    import sys
    from pathlib import Path

    write_original_tango_checkpoint(source, tmp_path / "original")
    (tmp_path / "unet.json").write_text(_json.dumps(dict(source.unet.config)))
    (tmp_path / "vocoder.json").write_text(_json.dumps(tiny_vocoder_config().to_dict()))
    script = Path(__file__).parents[1] / "datasets_scripts" / "convert_tango_to_diffusers.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--checkpoint",
            str(tmp_path / "original"),
            "--output_dir",
            str(tmp_path / "out"),
            "--unet_config",
            str(tmp_path / "unet.json"),
            "--vocoder_config",
            str(tmp_path / "vocoder.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "all keys matched" in result.stdout
    assert (tmp_path / "out" / "pipeline_tango.py").is_file()
