"""The model seam: every family's noise process against its own scheduler, and every family through
BATON and Diffusion-DPO training, saving, reloading and generating."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from diffusers import (
    CosineDPMSolverMultistepScheduler,
    DDIMScheduler,
    DDPMScheduler,
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
)

from baton_tta.data.audio import decode_audio
from baton_tta.families import (
    CosineVProcess,
    DDPMProcess,
    RectifiedFlowProcess,
    TimestepSettings,
    family_of,
    load_pipeline,
    noise_process_for,
)
from baton_tta.tiny import TINY_PIPELINES, tiny_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import (
    DiffusionDPOConfig,
    DiffusionDPOTrainer,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
)
from baton_tta.trainer.parking import ParkedComponentCalled

FAMILIES = sorted(TINY_PIPELINES)


def _latents(shape=(3, 4, 6, 5), seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


# ------------------------------------------------------------------ noise processes vs their schedulers
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_ddpm_exact_target_recovers_x0_through_the_schedulers_step(prediction_type):
    scheduler = DDPMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        prediction_type=prediction_type,
    )
    process = DDPMProcess(scheduler.config)
    latents, noise = _latents()
    scheduler.set_timesteps(1000)
    for t in (0, 17, 500, 999):
        timesteps = torch.full((latents.shape[0],), t)
        noisy = process.add_noise(latents, noise, timesteps)
        target = process.target(latents, noise, timesteps)
        x0 = scheduler.step(target, t, noisy).pred_original_sample
        torch.testing.assert_close(x0, latents, rtol=1e-3, atol=2e-3 if t == 999 else 1e-4)


def test_ddpm_process_keeps_a_value_registered_over_a_default():
    scheduler = DDPMScheduler()
    scheduler.register_to_config(prediction_type="v_prediction")
    assert DDPMProcess(scheduler.config).prediction_type == "v_prediction"


def test_ddpm_process_reads_the_pipelines_scheduler_whatever_its_sampler():
    """AudioLDM 2 ships a DDIM scheduler config: training is still DDPM on its betas and its
    prediction type (ε), and DDIM's own step recovers x0 from the exact target."""
    ddim = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.0015,
        beta_end=0.0195,
        clip_sample=False,
        set_alpha_to_one=False,
    )
    process = noise_process_for(ddim)
    assert isinstance(process, DDPMProcess) and process.prediction_type == "epsilon"
    latents, noise = _latents()
    ddim.set_timesteps(50)
    t = int(ddim.timesteps[10])
    timesteps = torch.full((3,), t)
    noisy = process.add_noise(latents, noise, timesteps)
    x0 = ddim.step(process.target(latents, noise, timesteps), t, noisy).pred_original_sample
    torch.testing.assert_close(x0, latents, rtol=1e-4, atol=1e-4)


def _sao_scheduler():
    return CosineDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"
    )


def test_cosine_v_target_recovers_x0_through_the_edm_preconditioning():
    scheduler = _sao_scheduler()
    process = noise_process_for(scheduler)
    assert isinstance(process, CosineVProcess)
    latents, noise = _latents()
    for t_value in (0.2, 0.5, 0.9, 0.995):
        t = torch.full((3,), t_value)
        sigma = process.edm_sigma(t).reshape(-1, 1, 1, 1)
        # the scheduler's sample lives in EDM units; its model input is c_in · sample
        sample = process.add_noise(latents, noise, t) * torch.sqrt(sigma**2 + 1)
        x0 = scheduler.precondition_outputs(sample, process.target(latents, noise, t), sigma)
        torch.testing.assert_close(x0, latents, rtol=1e-4, atol=1e-4)
        # and the denoiser is called with the scheduler's own timestep for that noise level
        torch.testing.assert_close(
            process.model_timestep(t),
            scheduler.precondition_noise(process.edm_sigma(t)),
            rtol=1e-5,
            atol=1e-6,
        )


def test_cosine_v_one_scheduler_step_lands_on_x0():
    """One DPM-Solver step from the scheduler's first noise level to σ = 0, given the exact target,
    is x0; a flipped sign is not."""
    scheduler = _sao_scheduler()
    process = noise_process_for(scheduler)
    latents, noise = _latents()
    for steps in (1, 4):
        scheduler.set_timesteps(steps)
        timestep, sigma = scheduler.timesteps[-1], scheduler.sigmas[-2]  # the last step ends at σ = 0
        t = torch.full((3,), float(torch.atan(sigma) * 2 / math.pi))
        torch.testing.assert_close(process.model_timestep(t), timestep.expand(3).float())
        noisy = process.add_noise(latents, noise, t)
        sample = noisy * torch.sqrt(sigma**2 + 1)  # the scheduler's EDM-unit sample at that level
        torch.testing.assert_close(scheduler.scale_model_input(sample.clone(), timestep), noisy)
        scheduler._step_index = steps - 1
        out = scheduler.step(process.target(latents, noise, t), timestep, sample).prev_sample
        torch.testing.assert_close(out, latents, rtol=1e-4, atol=1e-4)
        scheduler._step_index = steps - 1
        wrong = scheduler.step(-process.target(latents, noise, t), timestep, sample).prev_sample
        assert (wrong - latents).abs().max() > 0.5


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_rectified_flow_one_euler_step_from_any_sigma_recovers_x0(shift):
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=shift)
    process = noise_process_for(scheduler)
    assert isinstance(process, RectifiedFlowProcess)
    latents, noise = _latents()
    for s in (0.05, 0.3, 0.7, 1.0):
        scheduler.set_timesteps(sigmas=[s])
        timestep = scheduler.timesteps[0]
        sigma = float(scheduler.sigmas[0])
        t = torch.full((3,), sigma)
        torch.testing.assert_close(process.model_timestep(t), timestep.expand(3).float())
        noisy = process.add_noise(latents, noise, t)
        torch.testing.assert_close(noisy, scheduler.scale_noise(latents, timestep.expand(3), noise))
        out = scheduler.step(process.target(latents, noise, t), timestep, noisy).prev_sample
        torch.testing.assert_close(out, latents, rtol=1e-5, atol=1e-5)
        scheduler.set_timesteps(sigmas=[s])
        wrong = scheduler.step(latents - noise, timestep, noisy).prev_sample
        assert s < 0.1 or (wrong - latents).abs().max() > 0.5


def test_rectified_flow_timesteps_follow_the_schedulers_shift_and_the_density():
    torch.manual_seed(0)
    uniform = RectifiedFlowProcess(FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0).config)
    shifted = RectifiedFlowProcess(FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=3.0).config)
    a = uniform.sample_timesteps(20000, torch.device("cpu"))
    torch.manual_seed(0)
    b = shifted.sample_timesteps(20000, torch.device("cpu"))
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert abs(float(a.mean()) - 0.5) < 0.01
    torch.testing.assert_close(b, 3 * a / (1 + 2 * a))  # the scheduler's static shift of the same draws
    logit = RectifiedFlowProcess(
        FlowMatchEulerDiscreteScheduler(num_train_timesteps=1).config,
        TimestepSettings(timestep_density="logit_normal", flow_loss_weighting="cosmap"),
    )
    sigmas = logit.sample_timesteps(20000, torch.device("cpu"))
    assert float(((sigmas > 0.3) & (sigmas < 0.7)).float().mean()) > 0.45  # mass in the middle
    torch.testing.assert_close(
        logit.loss_weights(torch.tensor([0.5])), torch.tensor([2 / (math.pi * 0.5)]), rtol=1e-6, atol=1e-6
    )


def test_min_snr_is_refused_for_rectified_flow():
    with pytest.raises(ValueError, match="flow_loss_weighting"):
        RectifiedFlowProcess(FlowMatchEulerDiscreteScheduler().config, TimestepSettings(snr_gamma=5.0))


@pytest.mark.parametrize("name", FAMILIES)
def test_each_tiny_family_has_the_process_its_scheduler_implies(name):
    pipeline = tiny_pipeline(name)
    family = family_of(pipeline)
    expected = {
        "TangoPipeline": DDPMProcess,
        "AudioLDM2Pipeline": DDPMProcess,
        "StableAudioPipeline": CosineVProcess,
        "StableAudio3Pipeline": RectifiedFlowProcess,
    }[name]
    assert type(family.noise_process()) is expected
    assert family.frozen_components() and all(m is not family.denoiser for m in family.frozen_components())


@pytest.mark.parametrize("name", FAMILIES)
def test_each_familys_process_recovers_x0_through_its_own_pipelines_scheduler(name):
    """The check that catches a wrong sign or scale of the target, on the scheduler each tiny
    pipeline ships: noise with the family's process, give the scheduler the exact target, get x0."""
    pipeline = tiny_pipeline(name)
    scheduler = pipeline.scheduler
    process = family_of(pipeline).noise_process()
    latents, noise = _latents()
    if isinstance(process, DDPMProcess):
        scheduler.set_timesteps(20)
        for t in (int(scheduler.timesteps[0]), int(scheduler.timesteps[-1])):
            timesteps = torch.full((3,), t)
            noisy = process.add_noise(latents, noise, timesteps)
            x0 = scheduler.step(process.target(latents, noise, timesteps), t, noisy).pred_original_sample
            torch.testing.assert_close(x0, latents, rtol=1e-3, atol=2e-3)
        return
    if isinstance(process, RectifiedFlowProcess):
        for s in (0.2, 0.9):
            scheduler.set_timesteps(sigmas=[s])
            t = torch.full((3,), float(scheduler.sigmas[0]))
            noisy = process.add_noise(latents, noise, t)
            out = scheduler.step(process.target(latents, noise, t), scheduler.timesteps[0], noisy).prev_sample
            torch.testing.assert_close(out, latents, rtol=1e-5, atol=1e-5)
        return
    assert isinstance(process, CosineVProcess)
    scheduler.set_timesteps(3)
    timestep, sigma = scheduler.timesteps[-1], scheduler.sigmas[-2]
    t = torch.full((3,), float(torch.atan(sigma) * 2 / math.pi))
    sample = process.add_noise(latents, noise, t) * torch.sqrt(sigma**2 + 1)
    scheduler._step_index = 2
    out = scheduler.step(process.target(latents, noise, t), timestep, sample).prev_sample
    torch.testing.assert_close(out, latents, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ audio at the family's rate and channels
def test_clips_are_resampled_and_upmixed_on_decode():
    from baton_tta.data.audio import encode_audio

    rate = 16000
    mono = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    stereo = decode_audio(encode_audio(mono, rate, "x.wav"), 22050, channels=2)
    assert stereo.shape == (2, 22050) and np.allclose(stereo[0], stereo[1])
    both = np.stack([mono, -mono], axis=1)
    kept = decode_audio(encode_audio(both, rate, "y.wav"), rate, channels=2)
    assert kept.shape == (2, rate) and np.allclose(kept[0], -kept[1], atol=1e-4)
    assert decode_audio(encode_audio(both, rate, "z.wav"), rate).shape == (rate,)  # down-mixed to mono


# ------------------------------------------------------------------ training through the seam
def _fixed_loss(trainer, batch, seed=0) -> float:
    torch.manual_seed(seed)
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def _descent(trainer, batch, steps=4, lr=1e-3) -> list[float]:
    """Losses of a few Adam steps on one fixed batch with fixed noise and timesteps (the seed is
    reset before every step): the loss's gradient must point downhill through the seam."""
    parameters = [p for p in trainer.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)
        loss = trainer.compute_loss(trainer.model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


def _baton(tmp_path, name, **overrides):
    settings = {
        "output_dir": str(tmp_path / "out"),
        "audio_length_s": 1.0,
        "max_steps": 6,
        "per_device_train_batch_size": 2,
        "learning_rate": 3e-3,
        "condition_dropout": 0.0,
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        **overrides,
    }
    args = RewardWeightedDiffusionConfig(**settings)
    return RewardWeightedDiffusionTrainer(
        tiny_pipeline(name),
        args,
        tone_preference_dataset(num_rows=2, seconds=1.0),
        tone_pretrain_dataset(num_rows=2, seconds=1.0),
    )


def _first_batch(trainer):
    return trainer._prepare_inputs(
        trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_preference_and_pretrain_batches_share_one_denoiser_pass_with_the_same_losses(tmp_path, name):
    """BATON's two batches go through the denoiser as one (half the launches); the draws keep their
    order, so every per-sample error and weight equals the two-pass value (rtol 1e-5, atol 1e-6:
    another batch size may change the BLAS blocking), condition dropout included."""
    trainer = _baton(
        tmp_path, name, condition_dropout=0.5, snr_gamma=5.0 if name != "StableAudio3Pipeline" else None
    )
    batch = _first_batch(trainer)
    calls = []
    hook = trainer.model.register_forward_pre_hook(lambda *_: calls.append(1))
    torch.manual_seed(0)
    joint = trainer._joint_denoising_terms(trainer.model, [batch["audio"], batch["pretrain"]])
    assert len(calls) == 1
    torch.manual_seed(0)
    separate = [trainer._denoising_terms(trainer.model, batch[part]) for part in ("audio", "pretrain")]
    assert len(calls) == 3
    hook.remove()
    for (mse, weights), (mse_2, weights_2) in zip(joint, separate, strict=True):
        torch.testing.assert_close(mse, mse_2, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(weights, weights_2, rtol=1e-5, atol=1e-6)


def test_conditioning_of_different_caption_lengths_joins_with_masked_padding():
    from baton_tta.trainer.base import join_conditioning

    padded = {"encoder_hidden_states": "encoder_attention_mask"}
    short = {
        "encoder_hidden_states": torch.ones(2, 3, 4),
        "encoder_attention_mask": torch.ones(2, 3, dtype=torch.bool),
    }
    long = {
        "encoder_hidden_states": torch.ones(1, 5, 4),
        "encoder_attention_mask": torch.ones(1, 5, dtype=torch.bool),
    }
    joined = join_conditioning([short, long], padded)
    assert joined["encoder_hidden_states"].shape == (3, 5, 4)
    assert joined["encoder_attention_mask"].tolist() == [[True] * 3 + [False] * 2] * 2 + [[True] * 5]
    assert joined["encoder_hidden_states"][:2, 3:].abs().sum() == 0
    assert join_conditioning([short, long], {}) is None  # no mask: nothing says what is padding


@pytest.mark.parametrize("name", FAMILIES)
def test_after_caching_only_the_denoiser_stays_on_the_training_device(tmp_path, name, monkeypatch):
    """With cached features the frozen text encoders, VAE and vocoder leave the training device (here
    the off-device place is the meta device, so a CPU run can count what stays), and come back for
    validation and when training ends. Bytes of parameters and buffers left on the training device
    equal the denoiser's."""
    import baton_tta.trainer.base as base

    monkeypatch.setattr(base, "OFFLOAD_DEVICE", torch.device("meta"))
    trainer = _baton(tmp_path, name, cache_latents=True)

    def bytes_on(device_type: str) -> int:
        tensors = [t for m in trainer.pipeline.components.values() if isinstance(m, torch.nn.Module)
                   for t in (*m.parameters(), *m.buffers())]  # fmt: skip
        return sum(t.numel() * t.element_size() for t in tensors if t.device.type == device_type)

    denoiser = trainer.family.denoiser
    own = sum(t.numel() * t.element_size() for t in (*denoiser.parameters(), *denoiser.buffers()))
    assert bytes_on("cpu") == own and bytes_on("meta") > 0
    uncached = _baton(tmp_path / "uncached", name, cache_latents=False)  # encoders run every step
    assert all(p.device.type == "cpu" for p in uncached.pipeline.vae.parameters())


def test_validation_and_the_end_of_training_bring_the_frozen_components_back(tmp_path):
    trainer = _baton(tmp_path, "TangoPipeline", cache_latents=True)
    assert trainer.parking.parked_on is not None
    with trainer.frozen_on_device():
        assert trainer.parking.parked_on is None
        # callable inside the block: the tripwire is off
        trainer.pipeline.text_encoder(input_ids=torch.tensor([[5, 1]]))
    assert trainer.parking.parked_on is not None
    with pytest.raises(ParkedComponentCalled, match="frozen text_encoder was called while parked"):
        trainer.pipeline.text_encoder(input_ids=torch.tensor([[5, 1]]))
    trainer.train()
    assert trainer.parking.parked_on is None  # whole again for whoever uses the pipeline next


def _loss_gradients_and_recomputed_calls(trainer, batch) -> tuple[float, dict[str, torch.Tensor], int]:
    """One fixed-noise loss and its gradients; also how many submodule forwards ran again during
    backward (what activation checkpointing does, and nothing else does)."""
    calls = {"count": 0}
    hooks = [
        m.register_forward_hook(lambda *_: calls.__setitem__("count", calls["count"] + 1))
        for m in trainer.model.modules()
    ]
    torch.manual_seed(0)
    loss = trainer.compute_loss(trainer.model, batch)
    before = calls["count"]
    loss.backward()
    for hook in hooks:
        hook.remove()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return float(loss), grads, calls["count"] - before


@pytest.mark.parametrize("name", FAMILIES)
def test_activation_checkpointing_recomputes_blocks_and_keeps_loss_and_gradients(tmp_path, name):
    """Both names transformers accepts switch the denoiser's own checkpointing on (its blocks run
    their forward again in backward) and leave the Trainer's flags off (``Trainer.train`` would call
    transformers' method, which a diffusers model lacks). Loss equal; gradients equal within
    rtol 1e-5 / atol 1e-7 (recomputation on the CPU is deterministic: in practice bit for bit)."""
    plain = _baton(tmp_path / "plain", name)
    batch = _first_batch(plain)
    loss, grads, recomputed = _loss_gradients_and_recomputed_calls(plain, batch)
    assert recomputed == 0
    checkpointed = _baton(tmp_path / "new", name, activation_checkpointing=True)
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):
        deprecated = _baton(tmp_path / "old", name, gradient_checkpointing=True)
    for trainer in (checkpointed, deprecated):
        assert trainer.denoiser_gradient_checkpointing and trainer.model.is_gradient_checkpointing
        assert not (trainer.args.activation_checkpointing or trainer.args.gradient_checkpointing)
        trainer.model.load_state_dict(plain.model.state_dict())
        loss_c, grads_c, recomputed_c = _loss_gradients_and_recomputed_calls(trainer, batch)
        assert recomputed_c > 0
        assert loss_c == loss
        assert grads_c.keys() == grads.keys()
        for key, grad in grads.items():
            torch.testing.assert_close(grads_c[key], grad, rtol=1e-5, atol=1e-7)


def test_audioldm2_checkpointing_passes_the_attention_blocks_arguments_by_name():
    """diffusers' AudioLDM 2 blocks call a checkpointed ``Transformer2DModel`` positionally without its
    ``added_cond_kwargs`` slot; the family's checkpoint function maps them onto their names."""
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    from baton_tta.families.audioldm2 import checkpoint_by_name

    seen = {}

    class Recorder(Transformer2DModel):
        def forward(self, hidden_states, **kwargs):
            seen.update(kwargs)
            return (hidden_states * 2,)

    block = Recorder(num_attention_heads=1, attention_head_dim=4, in_channels=4, norm_num_groups=1)
    hidden = torch.ones(1, 4, 2, 2, requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    out = checkpoint_by_name(block, hidden, "states", None, None, {"scale": 1.0}, None, mask)[0]
    assert seen["encoder_hidden_states"] == "states" and seen["encoder_attention_mask"] is mask
    assert seen["attention_mask"] is None and seen["cross_attention_kwargs"] == {"scale": 1.0}
    assert seen["class_labels"] is None and "added_cond_kwargs" not in seen
    out.sum().backward()
    assert torch.equal(hidden.grad, torch.full_like(hidden, 2.0))


def _denoiser_changed(saved_folder, name, trust_remote_code=False) -> tuple[DiffusionPipeline, int]:
    loaded = DiffusionPipeline.from_pretrained(saved_folder, trust_remote_code=trust_remote_code)
    family = family_of(loaded)
    base = family_of(tiny_pipeline(name)).denoiser.state_dict()
    changed = sum(not torch.equal(v, base[k]) for k, v in family.denoiser.state_dict().items())
    return loaded, changed


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_baton_descends_saves_reloads_and_generates(tmp_path, name):
    trainer = _baton(tmp_path, name)
    losses = _descent(trainer, _first_batch(trainer))
    assert losses[-1] < losses[0], losses
    trainer.train()
    trainer.save_model()
    index = json.loads((tmp_path / "out" / "model_index.json").read_text())
    assert (index["_class_name"] == name) or index["_class_name"][-1] == name
    loaded, changed = _denoiser_changed(tmp_path / "out", name, trust_remote_code=name == "TangoPipeline")
    assert type(loaded).__name__ == name and changed > 0
    family = family_of(loaded)
    loaded.set_progress_bar_config(disable=True)
    out = loaded(
        ["a dog barks"],
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        **family.generation_kwargs(0.5),
    ).audios
    clip = family.clips_from_output(out)[0]
    expected = int(0.5 * family.sampling_rate)
    assert abs(clip.shape[0] - expected) <= family.sampling_rate // 100  # the asked length (±10 ms)
    assert (clip.ndim == 1) == (family.channels == 1)
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"license: {family.license}" in card and family.display_name in card


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "TangoPipeline"])
def test_lora_on_every_denoiser_merges_into_a_plain_diffusers_folder(tmp_path, name):
    trainer = _baton(
        tmp_path, name, use_lora=True, lora_rank=4, lora_alpha=8, learning_rate=5e-2, max_steps=2
    )
    trainer.train()
    trainer.save_model()
    folder = tmp_path / "out"
    assert (folder / "pytorch_lora_weights.safetensors").is_file() and (
        folder / "adapter_config.json"
    ).is_file()
    loaded, changed = _denoiser_changed(folder, name)
    assert changed > 0  # merged: the folder's denoiser is the fine-tuned one
    family = family_of(loaded)
    trained = family_of(trainer.pipeline)
    rows = _first_batch(trainer)["audio"]
    noisy = torch.randn(1, *rows["latent_mean"].shape[1:])
    conditioning = {k: v[:1] for k, v in rows["conditioning"].items()}
    t = trainer.noise.model_timestep(trainer.noise.sample_timesteps(1, torch.device("cpu")))
    with torch.no_grad():
        expected = trained.denoise(trainer.model.eval(), noisy, t, conditioning)
        got = family.denoise(family.denoiser, noisy, t, conditioning)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def _objective_args(config_class, tmp_path, **fields):
    """A few steps of an objective on the tiny families: the settings every such test shares."""
    settings = {
        "output_dir": str(tmp_path / "out"),
        "audio_length_s": 1.0,
        "per_device_train_batch_size": 2,
        "learning_rate": 3e-3,
        "condition_dropout": 0.0,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
    }
    return config_class(**{**settings, **fields})


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_dpo_starts_at_log2_lowers_its_loss_and_saves(tmp_path, name):
    from tests.test_trainer import _pairwise

    args = _objective_args(DiffusionDPOConfig, tmp_path, max_steps=5, dpo_beta=50.0)
    trainer = DiffusionDPOTrainer(tiny_pipeline(name), args, _pairwise(2))
    batch = _first_batch(trainer)
    assert math.isclose(_fixed_loss(trainer, batch), math.log(2), rel_tol=1e-5)  # model = reference
    losses = _descent(trainer, batch)
    assert math.isclose(losses[0], math.log(2), rel_tol=1e-5) and losses[-1] < losses[0], losses
    trainer.train()
    trainer.save_model()
    _, changed = _denoiser_changed(tmp_path / "out", name, trust_remote_code=name == "TangoPipeline")
    assert changed > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_kto_starts_at_one_half_lowers_its_loss_and_saves(tmp_path, name):
    """At the start the model is its reference: g = 0, z = 0, every clip's loss 1 − σ(0) = ½."""
    from baton_tta.trainer import DiffusionKTOConfig, DiffusionKTOTrainer

    args = _objective_args(
        DiffusionKTOConfig,
        tmp_path,
        max_steps=4,
        per_device_train_batch_size=4,
        kto_beta=50.0,
        human_to_reward_ratio=None,
    )
    data = tone_preference_dataset(num_rows=4, seconds=1.0)
    trainer = DiffusionKTOTrainer(tiny_pipeline(name), args, data)
    batch = _first_batch(trainer)
    assert {float(r) >= 0.5 for r in batch["rewards"]} == {True, False}  # both kinds of clip
    assert math.isclose(_fixed_loss(trainer, batch), 0.5, rel_tol=1e-5)
    losses = _descent(trainer, batch)
    assert math.isclose(losses[0], 0.5, rel_tol=1e-5) and losses[-1] < losses[0], losses
    trainer.train()
    trainer.save_model()
    _, changed = _denoiser_changed(tmp_path / "out", name, trust_remote_code=name == "TangoPipeline")
    assert changed > 0
    assert "Diffusion-KTO" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize("name", ["TangoPipeline", "StableAudio3Pipeline"])
def test_crpo_starts_at_log2_plus_the_chosen_loss_and_lowers_it(tmp_path, name):
    from tests.test_trainer import _pairwise

    from baton_tta.trainer import DiffusionCRPOConfig, DiffusionCRPOTrainer

    args = _objective_args(DiffusionCRPOConfig, tmp_path, dpo_beta=50.0, rpo_alpha=0.5)
    trainer = DiffusionCRPOTrainer(tiny_pipeline(name), args, _pairwise(2))
    batch = _first_batch(trainer)
    torch.manual_seed(0)
    with torch.no_grad():
        loss = float(trainer.compute_loss(trainer.model, batch))
    chosen = trainer._metrics["loss_chosen"][-1]
    assert math.isclose(loss, math.log(2) + 0.5 * chosen, rel_tol=1e-5) and chosen > 0
    losses = _descent(trainer, batch)
    assert losses[-1] < losses[0], losses


def test_ddim_is_refused_for_families_that_are_not_ddpm(tmp_path):
    from baton_tta.online import OnlineConfig, OnlineRunner

    pipeline = tiny_pipeline("StableAudio3Pipeline")
    runner = OnlineRunner.__new__(OnlineRunner)
    runner.args = OnlineConfig(output_dir=str(tmp_path), ddim_sampling=True)
    with pytest.raises(ValueError, match="DDPM families"):
        runner._sampler(pipeline)
    tango = tiny_pipeline("TangoPipeline")
    before = tango.scheduler
    sampler = runner._sampler(tango)
    assert type(sampler.scheduler) is DDIMScheduler and tango.scheduler is before  # the caller's is kept
    assert sampler.unet is tango.unet


def test_load_pipeline_picks_the_class_from_model_index(tmp_path):
    tiny_pipeline("StableAudio3Pipeline").save_pretrained(tmp_path / "sa3")
    assert type(load_pipeline(tmp_path / "sa3")).__name__ == "StableAudio3Pipeline"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(ValueError, match="no baton-tta family for pipeline class 'FluxPipeline'"):
        load_pipeline(tmp_path / "other")


# ------------------------------------------------------------------ the commands, on plain diffusers folders
@pytest.fixture(scope="module")
def saved_families(tmp_path_factory):
    """Each diffusers-native family's tiny pipeline saved as a plain diffusers folder, and a pairwise
    dataset on disk."""
    from tests.test_trainer import _pairwise

    root = tmp_path_factory.mktemp("families")
    folders = {}
    for name in FAMILIES:
        if name != "TangoPipeline":
            tiny_pipeline(name).save_pretrained(root / name)
            folders[name] = root / name
    _pairwise(4).save_to_disk(str(root / "pairs"))
    return folders, root / "pairs"


COMMON = [
    "--audio_length_s", "1.0", "--max_steps", "2", "--per_device_train_batch_size", "2",
    "--learning_rate", "1e-2", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "TangoPipeline"])
@pytest.mark.parametrize("command", ["train", "train --use_lora", "train-dpo", "train-kto", "train-crpo"])
def test_commands_train_every_diffusers_family_from_its_folder(tmp_path, saved_families, name, command):
    from baton_tta.cli import main

    folders, pairs = saved_families
    words = command.split()
    data = (
        ["--dataset_name", str(pairs)]
        if words[0] in ("train-dpo", "train-crpo")
        else [
            "--dataset_name",
            "tiny-random",
            "--pretrain_dataset_name",
            "tiny-random",
            "--builtin_dataset_rows",
            "4",
        ]
    )
    out = tmp_path / "out"
    argv = [*words, "--pipeline_name_or_path", str(folders[name]), *data, *COMMON, "--output_dir", str(out)]
    assert main(argv) == 0
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == name  # a plain diffusers folder: no remote code
    loaded = DiffusionPipeline.from_pretrained(out)
    assert type(loaded).__name__ == name
    base = family_of(DiffusionPipeline.from_pretrained(folders[name])).denoiser.state_dict()
    tuned = family_of(loaded).denoiser.state_dict()
    assert any(not torch.equal(tuned[k], base[k]) for k in base)


# ------------------------------------------------------------------ real size, on the meta device
@pytest.mark.parametrize("name", FAMILIES)
def test_published_denoisers_have_their_published_size_and_lora_targets(name):
    from peft import LoraConfig
    from peft.tuners.tuners_utils import BaseTunerLayer

    from baton_tta.families import FAMILIES as ADAPTERS
    from baton_tta.families.published import PUBLISHED, lora_targets, parameter_count
    from baton_tta.trainer.lora import add_lora

    published = PUBLISHED[name]
    model = published.build()
    assert next(model.parameters()).device.type == "meta"
    assert abs(parameter_count(model) / published.published_parameters - 1) < 0.05
    targets = lora_targets(model, ADAPTERS[name].lora_target_modules)
    assert targets
    model.requires_grad_(False)
    add_lora(model, LoraConfig(r=4, lora_alpha=4, target_modules=list(ADAPTERS[name].lora_target_modules)))
    wrapped = [n for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)]
    assert sorted(wrapped) == sorted(targets)  # PEFT wraps exactly the modules the defaults name
    assert all(p.requires_grad == ("lora_" in n) for n, p in model.named_parameters())


@pytest.mark.slow
def test_readme_family_commands_run(tmp_path, monkeypatch):
    """docs/families.md's offline per-family commands (the block marked ``family-commands``), as written."""
    import re
    import shlex
    from pathlib import Path

    from baton_tta.cli import main

    text = (Path(__file__).resolve().parents[1] / "docs" / "families.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"<!-- family-commands -->\s*```bash\n(.*?)```", text, flags=re.S)
    commands = [shlex.split(line) for line in re.sub(r"\\\n\s*", " ", block).splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["train", "train", "generate"]
    monkeypatch.chdir(tmp_path)
    for words in commands:
        assert words[0] == ".venv/bin/baton-tta"
        assert main(words[1:]) == 0
    for name in ("baton-stable-audio-3-tiny", "baton-stable-audio-open-tiny-lora"):
        index = json.loads(Path("outputs", name, "model_index.json").read_text())
        assert index["_class_name"] in ("StableAudio3Pipeline", "StableAudioPipeline")
    assert len(list(Path("outputs/audioldm2-tiny-clips").glob("*.wav"))) == 1


def test_the_push_allow_list_is_what_model_index_names(tmp_path):
    """A fixed TANGO list would have left a DiT's `transformer/` (or AudioLDM 2's `language_model/`)
    behind on the Hub; the allow-list is read from the saved pipeline."""
    from baton_tta.hub.push import pipeline_files

    tiny_pipeline("StableAudio3Pipeline").save_pretrained(tmp_path / "sa3")
    (tmp_path / "sa3" / "checkpoint-2").mkdir()
    patterns = pipeline_files(tmp_path / "sa3")
    assert patterns[0] == "model_index.json" and "checkpoint-2/*" not in patterns
    expected = {
        "transformer/*",
        "vae/*",
        "text_encoder/*",
        "tokenizer/*",
        "duration_embedder/*",
        "scheduler/*",
    }
    assert set(patterns[1:]) == expected
    tiny_pipeline("TangoPipeline").save_pretrained(tmp_path / "tango")
    assert "pipeline_tango.py" in pipeline_files(tmp_path / "tango")


@pytest.mark.parametrize(
    "name, foreign",
    [
        ("TangoPipeline", "FlowMatchEulerDiscreteScheduler"),
        ("AudioLDM2Pipeline", "FlowMatchEulerDiscreteScheduler"),
        ("StableAudioPipeline", "DDPMScheduler"),
        ("StableAudioPipeline", "FlowMatchEulerDiscreteScheduler"),
        ("StableAudio3Pipeline", "DDPMScheduler"),
    ],
)
def test_a_scheduler_of_another_noise_process_is_refused_for_training(tmp_path, name, foreign):
    """Found by the third trust pass: a swapped scheduler trained its own process's target (Stable Audio 3
    as DDPM, TANGO as rectified flow), exit 0, the card naming the wrong process."""
    import diffusers

    pipeline = tiny_pipeline(name)
    pipeline.scheduler = getattr(diffusers, foreign)()
    family = family_of(pipeline)
    with pytest.raises(
        ValueError,
        match=rf"trained as {re.escape(family.trained_process.name)}, but this pipeline.s scheduler {foreign}",
    ):
        family.noise_process()
    with pytest.raises(ValueError, match=rf"pipe.scheduler = {family.trained_scheduler}.from_pretrained"):
        RewardWeightedDiffusionTrainer(
            pipeline,
            RewardWeightedDiffusionConfig(
                output_dir=str(tmp_path), audio_length_s=1.0, use_cpu=True, report_to=[]
            ),
            tone_preference_dataset(num_rows=2, seconds=1.0),
            tone_pretrain_dataset(num_rows=2, seconds=1.0),
        )


def test_a_sampling_scheduler_of_the_same_process_still_trains():
    """An inference-only swap within the process (DDIM or DPM-Solver for a DDPM model) is fine."""
    from diffusers import DPMSolverMultistepScheduler

    pipeline = tiny_pipeline("TangoPipeline")
    for scheduler in (DDIMScheduler, DPMSolverMultistepScheduler):
        pipeline.scheduler = scheduler.from_config(pipeline.scheduler.config)
        assert family_of(pipeline).noise_process().name == "DDPM"
    assert {type(f).trained_process.name for f in map(family_of, map(tiny_pipeline, FAMILIES))} == {
        "DDPM",
        "continuous-time v (cosine)",
        "rectified flow",
    }


def test_a_family_or_noise_process_missing_a_part_cannot_be_built():
    """The seam's required parts are abstract: an adapter that forgets one fails when it is made,
    not in the middle of a run."""
    from baton_tta.families import AudioFamily, NoiseProcess

    class Incomplete(AudioFamily):
        pipeline_class_name = "IncompletePipeline"

        @property
        def sampling_rate(self) -> int:
            return 16000

    with pytest.raises(TypeError, match="encode_audio"):
        Incomplete(tiny_pipeline("TangoPipeline"))

    class NoTarget(NoiseProcess):
        def sample_timesteps(self, size, device):
            return torch.zeros(size)

    with pytest.raises(TypeError, match="target"):
        NoTarget({})


#: a value other than the default for every timestep setting (each valid for some family)
OTHER_THAN_DEFAULT = {
    "snr_gamma": 5.0,
    "snr_weighting": "v_target",
    "timestep_density": "logit_normal",
    "logit_mean": 0.5,
    "logit_std": 2.0,
    "mode_scale": 1.0,
    "flow_loss_weighting": "cosmap",
}


@pytest.mark.parametrize("name", FAMILIES)
def test_a_timestep_setting_the_familys_process_ignores_is_refused_naming_it(name):
    """Found by the new-user probe: Stable Audio 3's recipe trained TANGO and wrote
    ``timestep_density: logit_normal`` on the card, a setting DDPM training never reads. Every setting
    is tried on every family: one its process reads is taken, any other is refused with its name."""
    from dataclasses import fields

    from baton_tta.families import TimestepSettings

    family = family_of(tiny_pipeline(name))
    assert {f.name for f in fields(TimestepSettings)} == set(OTHER_THAN_DEFAULT)
    process_class = type(family.noise_process())
    for field_name, value in OTHER_THAN_DEFAULT.items():
        settings = TimestepSettings(**{field_name: value})
        if field_name in process_class.reads:
            assert family.noise_process(settings).settings == settings
        else:
            with pytest.raises(
                ValueError, match=rf"{re.escape(process_class.name)} training does not use {field_name}="
            ):
                family.noise_process(settings)
    assert {"snr_gamma"} <= process_class.reads or name == "StableAudio3Pipeline"
    assert ("timestep_density" in process_class.reads) == (
        name in ("StableAudioPipeline", "StableAudio3Pipeline")
    )
