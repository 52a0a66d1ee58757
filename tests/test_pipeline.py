"""TangoPipeline: shapes, determinism, guidance, prediction types, errors, masks, LoRA, save/load."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel

from baton_tta import TangoPipeline
from baton_tta.tiny import (
    tiny_scheduler,
    tiny_tango_pipeline,
    tiny_text_encoder,
    tiny_tokenizer,
    tiny_vocoder,
)
from helpers import generator

FAST = {"num_inference_steps": 3}


@pytest.mark.parametrize("length", [0.5, 1.0, 1.37])
def test_waveform_length_and_sampling_rate(tiny_pipe, length):
    audios = tiny_pipe("a dog barks", audio_length_in_s=length, generator=generator(), **FAST).audios
    assert tiny_pipe.sampling_rate == 16000
    assert isinstance(audios, np.ndarray) and audios.dtype == np.float32
    assert audios.shape == (1, round(length * 16000))
    assert np.isfinite(audios).all()


@pytest.mark.parametrize(
    ("prompts", "per_prompt"), [(["a dog barks"], 1), (["a dog barks", "rain falls"], 2)]
)
def test_batch_sizes(tiny_pipe, prompts, per_prompt):
    out = tiny_pipe(
        prompts, audio_length_in_s=0.5, num_waveforms_per_prompt=per_prompt, output_type="pt", **FAST
    )
    assert isinstance(out.audios, torch.Tensor)
    assert out.audios.shape == (len(prompts) * per_prompt, 8000)


def test_latent_output_shape(tiny_pipe):
    latents = tiny_pipe(["a", "b"], audio_length_in_s=1.0, output_type="latent", **FAST).audios
    # 1 s = 100 mel frames (multiple of vae 2 × unet 2), VAE halves frames and the 64 mel bins
    assert latents.shape == (2, 8, 50, 32)


def test_tango_geometry_ten_seconds():
    """TANGO's layout (3-level VAE, 4-level UNet, hop 160): 10 s → 1024 frames → latents (8, 256, 16)."""
    tokenizer = tiny_tokenizer()
    unet = UNet2DConditionModel(
        in_channels=8,
        out_channels=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        attention_head_dim=2,
        cross_attention_dim=32,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        latent_channels=8,
        norm_num_groups=4,
    )
    pipe = TangoPipeline(
        vae, tiny_text_encoder(len(tokenizer)), tokenizer, unet, tiny_scheduler(), tiny_vocoder()
    )
    pipe.set_progress_bar_config(disable=True)
    assert pipe.num_frames_for(10.0) == 1024
    assert pipe.num_frames_for(10.24) == 1024
    latents = pipe("a dog barks", audio_length_in_s=10.0, num_inference_steps=1, output_type="latent").audios
    assert latents.shape == (1, 8, 256, 16)


def test_deterministic_with_generator(tiny_pipe):
    first = tiny_pipe("a dog barks", audio_length_in_s=0.5, generator=generator(7), **FAST).audios
    again = tiny_pipe("a dog barks", audio_length_in_s=0.5, generator=generator(7), **FAST).audios
    other = tiny_pipe("a dog barks", audio_length_in_s=0.5, generator=generator(8), **FAST).audios
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def _count_unet_batch(pipe):
    seen = []
    handle = pipe.unet.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[0]))
    return seen, handle


def test_classifier_free_guidance_on_and_off(tiny_pipe):
    seen, handle = _count_unet_batch(tiny_pipe)
    try:
        off = tiny_pipe(
            "a dog barks", audio_length_in_s=0.5, guidance_scale=1.0, generator=generator(), **FAST
        )
        assert set(seen) == {1}
        seen.clear()
        on = tiny_pipe(
            "a dog barks", audio_length_in_s=0.5, guidance_scale=3.0, generator=generator(), **FAST
        )
        assert set(seen) == {2}
    finally:
        handle.remove()
    assert not np.allclose(off.audios, on.audios)


def test_guidance_combines_unconditional_and_conditional(tiny_pipe):
    """One denoising step with guidance w must equal uncond + w·(cond − uncond) computed by hand."""
    captured = {}

    def capture(pipe, step, timestep, callback_kwargs):
        captured["latents"] = callback_kwargs["latents"]
        return {}

    latents = torch.randn(1, 8, 50, 32, generator=generator(3))
    tiny_pipe(
        "a dog barks",
        audio_length_in_s=1.0,
        num_inference_steps=1,
        guidance_scale=2.5,
        latents=latents,
        output_type="latent",
        callback_on_step_end=capture,
    )
    embeds, mask = tiny_pipe.encode_prompt(["a dog barks"], 1, True)
    tiny_pipe.scheduler.set_timesteps(1)
    t = tiny_pipe.scheduler.timesteps[0]
    with torch.no_grad():
        pred = tiny_pipe.unet(
            torch.cat([latents] * 2), t, encoder_hidden_states=embeds, encoder_attention_mask=mask
        ).sample
    uncond, cond = pred.chunk(2)
    expected = tiny_pipe.scheduler.step(uncond + 2.5 * (cond - uncond), t, latents).prev_sample
    torch.testing.assert_close(captured["latents"], expected)


def test_negative_prompt_replaces_empty_caption(tiny_pipe):
    base = tiny_pipe("a dog barks", audio_length_in_s=0.5, generator=generator(), **FAST).audios
    negative = tiny_pipe(
        "a dog barks", negative_prompt="rain falls", audio_length_in_s=0.5, generator=generator(), **FAST
    ).audios
    assert not np.allclose(base, negative)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_prediction_types(prediction_type):
    pipe = tiny_tango_pipeline(prediction_type=prediction_type)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.scheduler.config.prediction_type == prediction_type
    audio = pipe("a dog barks", audio_length_in_s=0.5, generator=generator(), **FAST).audios
    assert audio.shape == (1, 8000) and np.isfinite(audio).all()


def test_prediction_types_give_different_audio():
    outs = []
    for prediction_type in ("v_prediction", "epsilon"):
        pipe = tiny_tango_pipeline(prediction_type=prediction_type)
        pipe.set_progress_bar_config(disable=True)
        outs.append(
            pipe(
                "a dog barks", audio_length_in_s=0.5, generator=generator(), output_type="latent", **FAST
            ).audios
        )
    assert not torch.allclose(outs[0], outs[1])


def test_padding_does_not_change_a_prompt(tiny_pipe):
    """The text mask reaches T5 and the UNet: a short caption batched with a long one (so padded)
    gives the same latents as the caption alone."""
    long_prompt = "a car horn honks followed by a siren then a train passes before birds chirp"
    alone = tiny_pipe(
        "a dog barks", audio_length_in_s=0.5, generator=[generator(1)], output_type="latent", **FAST
    ).audios
    batched = tiny_pipe(
        ["a dog barks", long_prompt],
        audio_length_in_s=0.5,
        generator=[generator(1), generator(2)],
        output_type="latent",
        **FAST,
    ).audios
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=1e-4)


def test_encode_prompt_layout(tiny_pipe):
    embeds, mask = tiny_pipe.encode_prompt(
        ["a dog barks", "rain"], num_waveforms_per_prompt=3, do_classifier_free_guidance=True
    )
    assert embeds.shape[:2] == mask.shape and embeds.shape[0] == 12 and embeds.shape[2] == 32
    assert mask.dtype == torch.bool
    # unconditional half first: the empty caption is only the end-of-sequence token
    assert mask[:6].sum(dim=1).tolist() == [1] * 6
    assert mask[6:9].sum(dim=1).tolist() == [4] * 3  # "a dog barks" + </s>
    no_cfg, _ = tiny_pipe.encode_prompt(["a dog barks"], 2, do_classifier_free_guidance=False)
    assert no_cfg.shape[0] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": []}, "empty list"),
        ({"prompt": 3}, "string or a list of strings"),
        ({"prompt": "x", "audio_length_in_s": 0}, "audio_length_in_s"),
        ({"prompt": "x", "audio_length_in_s": -1.5}, "-1.5"),
        ({"prompt": "x", "guidance_scale": -1.0}, "guidance_scale"),
        ({"prompt": "x", "num_inference_steps": 0}, "num_inference_steps"),
        ({"prompt": "x", "num_waveforms_per_prompt": 0}, "num_waveforms_per_prompt"),
        ({"prompt": ["x", "y"], "negative_prompt": ["n"]}, "one negative prompt per prompt"),
        ({"prompt": "x", "output_type": "wav"}, "'wav'"),
        ({"prompt": ["x", "y"], "generator": [torch.Generator()]}, "one generator per waveform"),
        ({"prompt": "x", "latents": torch.zeros(1, 8, 3, 3)}, "must have shape"),
    ],
)
def test_input_errors(tiny_pipe, kwargs, message):
    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        tiny_pipe(**kwargs)


def test_prepare_waveform_normalises_pads_and_trims(tiny_pipe):
    wave = torch.cat([torch.full((1, 100), 3.0), torch.linspace(-2, 4, 300)[None]], dim=1)
    out = tiny_pipe.prepare_waveform(wave, 1000)
    assert out.shape == (1, 1000)
    assert out.abs().max().item() == pytest.approx(0.5, abs=1e-6)
    assert torch.all(out[:, 400:] == 0)
    assert tiny_pipe.prepare_waveform(torch.randn(2, 5000), 1000).shape == (2, 1000)
    with pytest.raises(ValueError, match="batch, samples"):
        tiny_pipe.prepare_waveform(torch.randn(5000), 1000)


def test_mel_front_end_matches_tacotron_stft(tiny_pipe):
    """Reference: TANGO's TacotronSTFT arithmetic written with numpy + librosa's mel filters."""
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    wave = (
        0.4 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) + 0.05 * rng.standard_normal(16000)
    ).astype(np.float32)
    n_fft, hop = 1024, 160
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as scipy.get_window("hann", fftbins=True)
    frames = np.stack([padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, hop)])
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T
    mel_basis = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=64, fmin=0, fmax=8000)
    expected = np.log(np.clip(mel_basis @ magnitude, 1e-5, None)).T
    ours = tiny_pipe.waveform_to_mel(torch.from_numpy(wave)[None])[0].numpy()
    assert ours.shape == expected.shape == (101, 64)
    np.testing.assert_allclose(ours, expected, atol=2e-3, rtol=1e-3)
    assert tiny_pipe.waveform_to_mel(torch.from_numpy(wave)[None], num_frames=100).shape == (1, 100, 64)
    padded_mel = tiny_pipe.waveform_to_mel(torch.from_numpy(wave)[None], num_frames=120)
    assert padded_mel.shape == (1, 120, 64) and torch.all(padded_mel[0, 101:] == 0)


def test_waveform_to_latents(tiny_pipe):
    latents = tiny_pipe.waveform_to_latents(
        torch.randn(3, 12000), audio_length_in_s=1.0, sample_posterior=False
    )
    assert latents.shape == (3, 8, 50, 32)
    again = tiny_pipe.waveform_to_latents(
        torch.randn(3, 12000).mul(0) + latents.new_zeros(1), 1.0, sample_posterior=False
    )
    assert torch.isfinite(again).all()
    first = tiny_pipe.waveform_to_latents(torch.ones(1, 16000).cumsum(1).sin(), 1.0, generator=generator(1))
    second = tiny_pipe.waveform_to_latents(torch.ones(1, 16000).cumsum(1).sin(), 1.0, generator=generator(1))
    torch.testing.assert_close(first, second)


def _assert_same_audio(a, b):
    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 3}
    out_a = a(["a dog barks", "rain falls"], generator=generator(5), **kwargs).audios
    out_b = b(["a dog barks", "rain falls"], generator=generator(5), **kwargs).audios
    np.testing.assert_array_equal(out_a, out_b)


def test_save_and_load_both_ways(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_tango", "TangoPipeline"]
    assert (tmp_path / "pipe" / "pipeline_tango.py").read_text() == Path(
        inspect.getfile(TangoPipeline)
    ).read_text()
    assert (tmp_path / "pipe" / "pipeline_tango.py").is_file()
    assert index["mel_n_fft"] == 1024 and index["mel_fmax"] == 8000.0
    assert not list((tmp_path / "pipe").rglob("*.bin")), "weights must be safetensors"

    direct = TangoPipeline.from_pretrained(tmp_path / "pipe")
    direct.set_progress_bar_config(disable=True)
    assert isinstance(direct, TangoPipeline)
    _assert_same_audio(tiny_pipe, direct)

    remote = DiffusionPipeline.from_pretrained(tmp_path / "pipe", trust_remote_code=True)
    remote.set_progress_bar_config(disable=True)
    assert type(remote).__name__ == "TangoPipeline"
    _assert_same_audio(tiny_pipe, remote)

    # a pipeline loaded through remote code saves a folder that loads again
    remote.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "model_index.json").read_text())["_class_name"] == [
        "pipeline_tango",
        "TangoPipeline",
    ]
    _assert_same_audio(tiny_pipe, TangoPipeline.from_pretrained(tmp_path / "again"))


def test_lora_weights_save_and_load(tiny_pipe, tmp_path):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    base = tiny_pipe(
        "a dog barks", audio_length_in_s=0.5, generator=generator(), output_type="latent", **FAST
    ).audios
    tiny_pipe.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    with torch.no_grad():
        for name, param in tiny_pipe.unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5, generator=generator(11))
    tuned = tiny_pipe(
        "a dog barks", audio_length_in_s=0.5, generator=generator(), output_type="latent", **FAST
    ).audios
    assert not torch.allclose(base, tuned)
    TangoPipeline.save_lora_weights(tmp_path, unet_lora_layers=get_peft_model_state_dict(tiny_pipe.unet))
    assert (tmp_path / "pytorch_lora_weights.safetensors").is_file()

    fresh = tiny_tango_pipeline(seed=0)
    fresh.set_progress_bar_config(disable=True)
    fresh.load_lora_weights(tmp_path)
    loaded = fresh(
        "a dog barks", audio_length_in_s=0.5, generator=generator(), output_type="latent", **FAST
    ).audios
    torch.testing.assert_close(loaded, tuned)


def test_griffin_lim_vocoder_is_a_component(tiny_pipe, tmp_path):
    """Griffin-Lim is a vocoder-shaped module: the pipeline reads its geometry from its config, it
    inverts a mel closely enough that the mel comes back, and the folder saves and loads both ways."""
    from baton_tta.pipelines.pipeline_tango import log_mel_spectrogram
    from baton_tta.toy.vocoder import GriffinLimVocoder

    vocoder = GriffinLimVocoder(sampling_rate=16000, model_in_dim=64, upsample_rates=(160,))
    pipe = TangoPipeline(**{**tiny_pipe.components, "vocoder": vocoder})
    assert (pipe.sampling_rate, pipe.hop_length, pipe.num_mel_bins) == (16000, 160, 64)
    audio = pipe("a bell rings", num_inference_steps=2, audio_length_in_s=0.5, generator=generator(0)).audios
    assert audio.shape == (1, 8000) and np.isfinite(audio).all() and np.abs(audio).max() > 0

    t = torch.arange(16000) / 16000
    tone = 0.4 * torch.sin(2 * torch.pi * 1000 * t)[None] * (t > 0.5)
    mel = log_mel_spectrogram(tone)
    inverted = vocoder(mel)
    assert torch.equal(inverted, vocoder(mel))  # fixed initial phase
    again = log_mel_spectrogram(inverted)[:, : mel.shape[1]]
    loud = mel > -4  # where there is sound, the mel comes back within a fraction of a nat
    assert (again - mel)[loud].abs().mean() < 0.3

    pipe.save_pretrained(tmp_path / "gl")
    index = json.loads((tmp_path / "gl" / "model_index.json").read_text())
    assert index["vocoder"] == ["baton_tta.toy.vocoder", "GriffinLimVocoder"]
    assert "mel_hop_length" not in index and "griffin_lim_iters" not in index
    for loaded in (
        TangoPipeline.from_pretrained(tmp_path / "gl"),
        DiffusionPipeline.from_pretrained(tmp_path / "gl", trust_remote_code=True),
    ):
        assert isinstance(loaded.vocoder, GriffinLimVocoder) and loaded.hop_length == 160
        torch.testing.assert_close(loaded.vocoder(mel), inverted)


def test_griffin_lim_iterations_override_a_default(tmp_path):
    """A vocoder built with its defaults still takes another iteration count through
    ``from_config(config, num_iters=...)`` (a merged config dict would get the default restored), and
    only that setting changes."""
    from baton_tta.toy.vocoder import GriffinLimVocoder

    default = GriffinLimVocoder()
    longer = GriffinLimVocoder.from_config(default.config, num_iters=4)
    assert longer.config.num_iters == 4 and longer.hop_length == default.hop_length
    mel = torch.randn(1, 20, 64) - 4
    assert not torch.equal(longer(mel), default(mel))
    default.save_pretrained(tmp_path / "v")
    loaded = GriffinLimVocoder.from_pretrained(tmp_path / "v")
    assert GriffinLimVocoder.from_config(loaded.config, num_iters=4).config.num_iters == 4


def test_callback_on_step_end_follows_diffusers_contract(tiny_pipe):
    """The callback gets (pipe, step, timestep, {requested tensors}); what it returns replaces them.
    Zeroing the latents at the last step must therefore give latents of exactly zero."""
    from diffusers.callbacks import PipelineCallback

    seen = []

    def zero_last(pipe, step, timestep, callback_kwargs):
        assert pipe is tiny_pipe and set(callback_kwargs) == {"latents", "prompt_embeds"}
        seen.append((step, int(timestep)))
        if step == FAST["num_inference_steps"] - 1:
            return {"latents": torch.zeros_like(callback_kwargs["latents"])}
        return {}

    out = tiny_pipe(
        "a dog barks",
        audio_length_in_s=0.5,
        output_type="latent",
        callback_on_step_end=zero_last,
        callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
        **FAST,
    ).audios
    assert [s for s, _ in seen] == [0, 1, 2] and torch.count_nonzero(out) == 0
    assert [t for _, t in seen] == tiny_pipe.scheduler.timesteps.tolist()
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        tiny_pipe("a dog barks", callback_on_step_end_tensor_inputs=["noise_pred"], **FAST)

    class Count(PipelineCallback):
        tensor_inputs = ["latents"]  # noqa: RUF012 (diffusers declares it a plain list)

        def callback_fn(self, pipeline, step_index, timestep, callback_kwargs):
            seen.append(("object", step_index))
            return callback_kwargs

    seen.clear()
    tiny_pipe("a dog barks", audio_length_in_s=0.5, callback_on_step_end=Count(), **FAST)
    assert seen == [("object", 0), ("object", 1), ("object", 2)]


def test_prompt_embeds_give_the_same_audio_as_prompts(tiny_pipe):
    """Precomputed states (with their masks, for both branches) replace the captions exactly."""
    prompts = ["a dog barks", "rain falls while a man speaks"]
    reference = tiny_pipe(prompts, audio_length_in_s=0.5, generator=generator(), **FAST).audios
    embeds, mask = tiny_pipe.encode_text(prompts)
    negative, negative_mask = tiny_pipe.encode_text(["", ""], max_length=embeds.shape[1])
    again = tiny_pipe(
        prompt_embeds=embeds,
        prompt_attention_mask=mask,
        negative_prompt_embeds=negative,
        negative_attention_mask=negative_mask,
        audio_length_in_s=0.5,
        generator=generator(),
        **FAST,
    ).audios
    np.testing.assert_allclose(again, reference, atol=1e-6)
    with pytest.raises(ValueError, match="either `prompt` or `prompt_embeds`"):
        tiny_pipe("a dog barks", prompt_embeds=embeds, **FAST)
    with pytest.raises(ValueError, match="give `prompt`"):
        tiny_pipe(**FAST)


def test_eta_reaches_ddim(tiny_pipe):
    """η is passed to schedulers that take it: DDIM with η = 1 is stochastic, so it changes the
    output against η = 0 under the same generator; DDPM ignores it."""
    from diffusers import DDIMScheduler

    tiny_pipe.scheduler = DDIMScheduler.from_config(tiny_pipe.scheduler.config)
    run = {"audio_length_in_s": 0.5, "output_type": "latent", **FAST}
    deterministic = tiny_pipe("a dog barks", eta=0.0, generator=generator(), **run).audios
    stochastic = tiny_pipe("a dog barks", eta=1.0, generator=generator(), **run).audios
    assert not torch.allclose(deterministic, stochastic)
    assert tiny_pipe.prepare_extra_step_kwargs(None, 0.5)["eta"] == 0.5


def test_encode_mel_is_the_vae_posterior(tiny_pipe):
    """encode_mel returns the unscaled posterior; mel_to_latents is its mode times the scale."""
    mel = tiny_pipe.waveform_to_mel(0.3 * torch.randn(2, 8000, generator=generator(1)), num_frames=48)
    posterior = tiny_pipe.encode_mel(mel)
    latents = tiny_pipe.mel_to_latents(mel, sample_posterior=False)
    torch.testing.assert_close(latents, posterior.mode() * tiny_pipe.vae.config.scaling_factor)
    assert posterior.mean.shape == latents.shape and (posterior.std > 0).all()


def test_diffusers_own_callbacks_work_guidance_cutoff_and_interrupt(tiny_pipe):
    """Found by the review: the pipeline lacked guidance_scale / num_timesteps / interrupt, so
    diffusers' SDCFGCutoffCallback failed on it."""
    from diffusers.callbacks import SDCFGCutoffCallback

    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 4, "output_type": "latent"}
    full = tiny_pipe("a dog barks", generator=generator(), **kwargs).audios
    assert tiny_pipe.num_timesteps == 4 and tiny_pipe.guidance_scale == 3.0
    cut = tiny_pipe(
        "a dog barks",
        generator=generator(),
        callback_on_step_end=SDCFGCutoffCallback(cutoff_step_ratio=0.5),
        **kwargs,
    ).audios
    assert tiny_pipe.guidance_scale == 0.0 and not torch.allclose(cut, full)
    calls = []

    def stop_after_two(pipe, step, timestep, callback_kwargs):
        calls.append(step)
        pipe._interrupt = step >= 1
        return callback_kwargs

    tiny_pipe("a dog barks", generator=generator(), callback_on_step_end=stop_after_two, **kwargs)
    assert calls == [0, 1]  # the remaining steps were skipped
