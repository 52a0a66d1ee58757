"""RewardWeightedDiffusionTrainer: Eq. 7 by hand, reductions, LoRA, caching, DPO, errors, saving."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from datasets import Audio, Dataset
from diffusers import DiffusionPipeline

from baton_tta.data import encode_audio
from baton_tta.online import OnlineConfig
from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import (
    DiffusionCRPOConfig,
    DiffusionCRPOTrainer,
    DiffusionDPOConfig,
    DiffusionDPOTrainer,
    DiffusionGRPOConfig,
    DiffusionKTOConfig,
    DiffusionTrainingConfig,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
    reward_weighted_loss,
)
from baton_tta.trainer.loss import diffusion_dpo_loss


def make_args(tmp_path, config_class=RewardWeightedDiffusionConfig, **overrides):
    values = {
        "output_dir": str(tmp_path / "out"),
        "audio_length_s": 1.0,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": 7,
        "report_to": "none",
        "use_cpu": True,
        "dataloader_pin_memory": False,
        "condition_dropout": 0.0,
    }
    values.update(overrides)
    return config_class(**values)


def make_trainer(tmp_path, pipeline=None, data=None, pretrain="default", **overrides):
    pretrain = tone_pretrain_dataset(8) if isinstance(pretrain, str) else pretrain
    return RewardWeightedDiffusionTrainer(
        pipeline or tiny_tango_pipeline(),
        make_args(tmp_path, **overrides),
        data if data is not None else tone_preference_dataset(12),
        pretrain,
    )


def _manual_loss(trainer, inputs, state):
    """Replays the trainer's random draws and computes Eq. 7 from the DDPM formulas by hand."""
    torch.set_rng_state(state)
    terms = []
    for key in (trainer.args.audio_column, "pretrain"):
        batch = inputs[key]
        x0 = (
            batch["latent_mean"] + batch["latent_std"] * torch.randn_like(batch["latent_std"])
        ) * trainer.pipeline.vae.config.scaling_factor
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (x0.shape[0],))
        abar = trainer.noise.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
        noisy = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        if trainer.noise.scheduler.config.prediction_type == "v_prediction":
            target = abar.sqrt() * noise - (1 - abar).sqrt() * x0
        else:
            target = noise
        with torch.no_grad():
            conditioning = batch["conditioning"]
            pred = trainer.model(
                noisy,
                t,
                encoder_hidden_states=conditioning["encoder_hidden_states"],
                encoder_attention_mask=conditioning["encoder_attention_mask"],
            ).sample
        mse = ((pred - target) ** 2).mean(dim=(1, 2, 3))
        snr = (abar / (1 - abar)).flatten()
        gamma = trainer.args.snr_gamma
        if gamma is None:
            weights = torch.ones_like(snr)
        elif (
            trainer.args.snr_weighting == "v_target"
            and trainer.noise.scheduler.config.prediction_type == "v_prediction"
        ):
            weights = torch.minimum(snr, torch.tensor(gamma)) / (snr + 1)
        else:
            weights = torch.minimum(snr, torch.tensor(gamma)) / snr
        terms.append((mse, weights))
    (pref_mse, pref_w), (pre_mse, pre_w) = terms
    rewards = inputs["rewards"]
    f = torch.exp(rewards) if trainer.args.reward_transform == "exp" else rewards
    return (f * pref_w * pref_mse).mean() + trainer.args.beta * (pre_w * pre_mse).mean()


@pytest.mark.parametrize("reward_transform", ["identity", "exp"])
@pytest.mark.parametrize(("snr_gamma", "snr_weighting"), [(None, "tango"), (5.0, "tango"), (5.0, "v_target")])
@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_loss_equals_hand_computation(tmp_path, reward_transform, snr_gamma, snr_weighting, prediction_type):
    """Eq. 7 by hand; Min-SNR as TANGO computes it (min(SNR, γ)/SNR, v-prediction too) by default,
    and the v-target variant (/(SNR + 1)) when asked."""
    trainer = make_trainer(
        tmp_path,
        pipeline=tiny_tango_pipeline(prediction_type=prediction_type),
        reward_transform=reward_transform,
        snr_gamma=snr_gamma,
        snr_weighting=snr_weighting,
        beta=0.7,
    )
    inputs = next(iter(trainer.get_train_dataloader()))
    state = torch.get_rng_state()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, inputs)
    expected = _manual_loss(trainer, inputs, state)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_beta_zero_and_unit_rewards_give_plain_denoising_loss():
    mse = torch.tensor([0.3, 0.5, 0.1])
    loss, terms = reward_weighted_loss(
        mse, torch.ones(3), torch.ones(3), torch.tensor([9.0, 9.0]), torch.ones(2), beta=0.0
    )
    torch.testing.assert_close(loss, mse.mean())
    assert terms["loss_pretrain"] == 0
    weighted, _ = reward_weighted_loss(
        mse, torch.tensor([1.0, 0.0, 0.5]), torch.ones(3), torch.tensor([0.2, 0.4]), torch.ones(2), beta=0.5
    )
    torch.testing.assert_close(weighted, torch.tensor((0.3 + 0.0 + 0.05) / 3 + 0.5 * 0.3))


def test_trainer_reduces_to_plain_loss(tmp_path):
    data = tone_preference_dataset(8, reward_rows=False)
    data = data.map(lambda row: {"label": 1, "reward": 1.0})
    trainer = make_trainer(tmp_path, data=data, beta=0.0)
    inputs = next(iter(trainer.get_train_dataloader()))
    state = torch.get_rng_state()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, inputs)
        torch.set_rng_state(state)
        mse, _ = trainer._denoising_terms(trainer.model, inputs["audio"])
    torch.testing.assert_close(loss, mse.mean())


def test_only_lora_parameters_change(tmp_path):
    trainer = make_trainer(tmp_path, use_lora=True, lora_rank=4, lora_alpha=4)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    trainer.train()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= trainable


def test_cached_equals_uncached(tmp_path):
    results = []
    for cache in (True, False):
        trainer = make_trainer(tmp_path / str(cache), cache_latents=cache, max_steps=3, condition_dropout=0.2)
        trainer.train()
        results.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
        results.append([e["loss"] for e in trainer.state.log_history if "loss" in e])
    cached, cached_losses, uncached, uncached_losses = results
    np.testing.assert_allclose(cached_losses, uncached_losses, rtol=1e-4)
    for key in cached:
        torch.testing.assert_close(cached[key], uncached[key], rtol=1e-4, atol=1e-6)


def test_dpo_loss_on_a_hand_made_pair():
    loss, metrics = diffusion_dpo_loss(
        torch.tensor([0.2]), torch.tensor([0.5]), torch.tensor([0.3]), torch.tensor([0.4]), beta=10.0
    )
    inside = (
        -0.5 * 10.0 * ((0.2 - 0.5) - (0.3 - 0.4))
    )  # = 1.0: the model prefers the chosen clip more than the reference
    torch.testing.assert_close(loss, torch.tensor(-math.log(1 / (1 + math.exp(-inside)))))
    assert metrics["dpo_implicit_accuracy"] == 1.0
    same, _ = diffusion_dpo_loss(
        torch.tensor([0.2]), torch.tensor([0.5]), torch.tensor([0.2]), torch.tensor([0.5]), beta=10.0
    )
    torch.testing.assert_close(same, torch.tensor(math.log(2.0)))


def _pairwise(n=6):
    from baton_tta.toy.tones import tone_clip

    rng = np.random.default_rng(0)
    rows = {
        "prompt": [f"a dog barks then rain falls {i}" for i in range(n)],
        "chosen": [encode_audio(tone_clip(rng, 1.0), 16000, f"c{i}.wav") for i in range(n)],
        "rejected": [encode_audio(tone_clip(rng, 1.0), 16000, f"r{i}.wav") for i in range(n)],
    }
    data = Dataset.from_dict(rows)
    for column in ("chosen", "rejected"):
        data = data.cast_column(column, Audio(decode=False))
    return data


@pytest.mark.parametrize("use_lora", [False, True])
def test_dpo_training_starts_at_log2_and_moves(tmp_path, use_lora):
    args = make_args(tmp_path, DiffusionDPOConfig, dpo_beta=500.0, use_lora=use_lora, max_steps=3)
    trainer = DiffusionDPOTrainer(tiny_tango_pipeline(), args, _pairwise())
    inputs = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        first = trainer.compute_loss(trainer.model, inputs)
    torch.testing.assert_close(
        first, torch.tensor(math.log(2.0)), rtol=1e-4, atol=1e-4
    )  # policy == reference
    trainer.train()
    assert any("dpo_implicit_accuracy" in e for e in trainer.state.log_history)


def test_bad_inputs_fail_before_training(tmp_path):
    unlabelled = tone_preference_dataset(6, reward_rows=False).map(
        lambda r: {"label": -1, "source": "unlabelled", "reward": float("nan")}
    )
    with pytest.raises(ValueError, match="6 row\\(s\\) have no label and no reward"):
        make_trainer(tmp_path, data=unlabelled)
    bad_reward = tone_preference_dataset(6).map(
        lambda r, i: {"reward": 3.0 if i == 1 else r["reward"]}, with_indices=True
    )
    with pytest.raises(ValueError, match=r"row 1, column 'reward': 3.0 must be a finite number in \[0, 1\]"):
        make_trainer(tmp_path, data=bad_reward)
    with pytest.raises(ValueError, match="preference dataset is empty"):
        make_trainer(tmp_path, data=tone_preference_dataset(4).select([]))
    long_clips = tone_preference_dataset(4, seconds=3.0)
    with pytest.raises(ValueError, match=r"row 0, column 'audio': clip is 3\.00 s, training length is 1 s"):
        make_trainer(tmp_path, data=long_clips)
    with pytest.raises(ValueError, match="reward_transform"):
        make_args(tmp_path, reward_transform="square")


class ConstantReward:
    def __init__(self, value):
        self.value = value
        self.calls = 0

    def score(self, prompts, audios, sampling_rate):
        self.calls += 1
        assert len(prompts) == len(audios)
        # unlabelled rows are decoded at CLAP's rate; validation clips come at the pipeline's
        assert sampling_rate in (16000, 48000) and all(len(a) == sampling_rate for a in audios)
        return [self.value] * len(prompts)


def test_reward_model_scores_unlabelled_rows_and_validation(tmp_path):
    data = tone_preference_dataset(8, reward_rows=False)
    data = data.map(
        lambda r, i: {"label": -1, "source": "unlabelled", "reward": float("nan")} if i % 2 else {},
        with_indices=True,
    )
    reward = ConstantReward(0.25)
    args = make_args(
        tmp_path, validation_prompts=["a dog barks"], validation_every_n_steps=2, validation_inference_steps=2
    )
    trainer = RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(), args, data, tone_pretrain_dataset(4), reward_model=reward
    )
    assert sorted(trainer.train_rewards) == sorted(
        [0.25] * 4 + [float(x) for x in data.select(range(0, 8, 2))["label"]]
    )
    trainer.train()
    assert reward.calls == 2  # once for the unlabelled rows, once at the step-2 validation
    assert any(e.get("validation_mean_reward") == 0.25 for e in trainer.state.log_history)
    assert (tmp_path / "out" / "validation" / "step-2" / "00.wav").is_file()


def test_saved_pipeline_and_lora_weights_load(tmp_path):
    trainer = make_trainer(
        tmp_path, use_lora=True, lora_rank=4, lora_alpha=8, max_steps=2, learning_rate=5e-2, merge_lora=False
    )
    trainer.train()
    trainer.save_model()
    out = tmp_path / "out"
    assert {"README.md", "training_curves.png", "pytorch_lora_weights.safetensors", "model_index.json"} <= {
        p.name for p in out.iterdir()
    }
    card = (out / "README.md").read_text()
    assert "library_name: diffusers" in card and "| `beta` | `0.5` |" in card and "lora" in card
    trained = trainer.pipeline
    trained.set_progress_bar_config(disable=True)
    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 2, "output_type": "latent"}
    expected = trained("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    base = DiffusionPipeline.from_pretrained(out, trust_remote_code=True)
    base.set_progress_bar_config(disable=True)
    plain = base("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    assert not torch.allclose(plain, expected)  # the folder holds the base weights ...
    base.load_lora_weights(out)  # ... and the adapters load with diffusers' loader
    with_lora = base("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    torch.testing.assert_close(with_lora, expected, rtol=1e-4, atol=1e-5)


def test_merged_lora_pipeline(tmp_path):
    trainer = make_trainer(
        tmp_path, use_lora=True, lora_rank=4, lora_alpha=8, merge_lora=True, learning_rate=5e-2
    )
    trainer.train()
    trainer.save_model()
    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 2, "output_type": "latent"}
    trainer.pipeline.set_progress_bar_config(disable=True)
    expected = trainer.pipeline("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    merged = DiffusionPipeline.from_pretrained(tmp_path / "out", trust_remote_code=True)
    merged.set_progress_bar_config(disable=True)
    got = merged("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_full_finetune_saves_loadable_pipeline(tmp_path):
    trainer = make_trainer(tmp_path, learning_rate=1e-2)
    trainer.train()
    trainer.save_model()
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "out", trust_remote_code=True)
    for (name, a), (_, b) in zip(loaded.unet.state_dict().items(), trainer.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert json.loads((tmp_path / "out" / "model_index.json").read_text())["_class_name"] == [
        "pipeline_tango",
        "TangoPipeline",
    ]


def test_validation_audio_goes_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from test_reward_training import _event_tags

    trainer = make_trainer(
        tmp_path,
        report_to=["tensorboard"],
        validation_prompts=["a dog barks"],
        validation_every_n_steps=2,
        validation_inference_steps=2,
        num_validation_clips=2,
    )
    trainer.train()
    tags = _event_tags(tmp_path / "out" / "runs")  # TensorBoardCallback's default: output_dir/runs
    assert {"validation/00", "validation/01"} <= tags and "train/loss" in tags
    assert len(list((tmp_path / "out" / "validation" / "step-2").glob("*.wav"))) == 2


@pytest.mark.parametrize(
    "config_class",
    [
        DiffusionTrainingConfig,
        RewardWeightedDiffusionConfig,
        DiffusionDPOConfig,
        DiffusionCRPOConfig,
        DiffusionKTOConfig,
        DiffusionGRPOConfig,
        OnlineConfig,
    ],
)
def test_every_config_field_is_documented_with_its_help(config_class):
    """TRL's convention: one docstring entry per field this project defines (or re-defaults), whose
    text is the field's ``help`` word for word."""
    import inspect
    import re

    entries = dict(re.findall(r"^\s+(\w+) \(.*?\): (.+)$", config_class.__doc__, flags=re.M))
    own = inspect.get_annotations(config_class)
    for name in own:
        help_text = config_class.__dataclass_fields__[name].metadata["help"]
        assert entries.get(name) == help_text, f"{config_class.__name__}.{name}: docstring != help"


def test_choices_are_enforced_by_the_parser(tmp_path):
    from trl import TrlParser

    parser = TrlParser((RewardWeightedDiffusionConfig,))
    with pytest.raises(SystemExit):
        parser.parse_args_and_config(args=["--output_dir", str(tmp_path), "--reward_transform", "square"])
    with pytest.raises(ValueError, match="snr_gamma must be > 0"):
        make_args(tmp_path, snr_gamma=-5.0)


def test_push_to_hub_refuses_arguments_it_would_ignore(tmp_path):
    trainer = make_trainer(tmp_path)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['colour'\]"):
        trainer.push_to_hub(colour="red")
    assert not (tmp_path / "out" / "model_index.json").exists()  # refused before anything was written


def test_length_tolerance_is_strict_by_default_and_padding_is_logged(tmp_path, caplog):
    """Found by the trust probe: a 0.3 s clip padded silently into a 1 s run (the old 1 s tolerance)."""
    import logging

    from baton_tta.toy.tones import tone_clip

    rng = np.random.default_rng(0)
    args = RewardWeightedDiffusionConfig(output_dir=str(tmp_path / "o"), audio_length_s=1.0, use_cpu=True)
    assert args.audio_length_tolerance_s == pytest.approx(0.03)
    data = tone_preference_dataset(4)
    short = [
        encode_audio(tone_clip(rng, 0.3), 16000, "short.wav"),
        encode_audio(tone_clip(rng, 0.98), 16000, "a.wav"),
    ]
    data = data.cast_column("audio", Audio(decode=False))
    rows = data.to_dict()
    rows["audio"][1], rows["audio"][2] = short
    bad = Dataset.from_dict(rows).cast_column("audio", Audio(decode=False))
    with pytest.raises(ValueError, match=r"row 1, column 'audio': clip is 0\.30 s, training length is 1 s"):
        make_trainer(tmp_path, data=bad)
    rows["audio"][1] = rows["audio"][0]
    ok = Dataset.from_dict(rows).cast_column("audio", Audio(decode=False))
    with caplog.at_level(logging.INFO, logger="baton_tta.trainer.data"):
        make_trainer(tmp_path / "ok", data=ok)
    assert "1 clip(s) padded with silence to 1 s (shortest 0.980 s), 0 cut" in caplog.text


def test_a_truncated_wav_is_an_error_naming_its_row():
    from baton_tta.data.audio import AudioDecodeError, decode_audio
    from baton_tta.toy.tones import tone_clip

    whole = encode_audio(tone_clip(np.random.default_rng(0), 1.0), 16000, "x.wav")
    cut = {"bytes": whole["bytes"][: len(whole["bytes"]) // 3], "path": "x.wav"}
    with pytest.raises(
        AudioDecodeError, match=r"row 7, column 'audio': the WAV is truncated: its header declares 1\.00 s"
    ):
        decode_audio(cut, 16000, where="row 7, column 'audio'")
    assert decode_audio(whole, 16000).shape == (16000,)


def test_a_bad_clip_is_named_by_its_file_and_row_after_rows_are_left_out(tmp_path):
    """Found by the trust probe: a bad clip at file row 17 was reported as "row 5" of "train_dataset"."""
    from baton_tta.toy.tones import tone_clip

    data = tone_preference_dataset(20, reward_rows=False)
    rows = data.to_dict()
    rows["label"][2] = -1  # skipped: left out before the clips are read
    rows["audio"][17] = encode_audio(tone_clip(np.random.default_rng(1), 0.3), 16000, "short.wav")
    folder = tmp_path / "prefs"
    Dataset.from_dict(rows).cast(data.features).save_to_disk(str(folder))
    with pytest.raises(
        ValueError, match=rf"{folder}: 1 problem\(s\):\s+row 17, column 'audio': clip is 0\.30 s"
    ):
        make_trainer(tmp_path, data=str(folder))


class _RecordTrainedWeights:
    """A callback keeping the trained weights after each optimiser step."""

    def __init__(self):
        from transformers import TrainerCallback

        class Record(TrainerCallback):
            def on_step_end(inner, args, state, control, model=None, **kwargs):
                self.steps.append(
                    {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
                )

        self.steps: list[dict[str, torch.Tensor]] = []
        self.callback = Record()


def test_ema_is_diffusers_average_of_the_trained_weights_and_is_saved(tmp_path):
    """With ``use_ema`` the saved denoiser is the moving average: s₁ = p₁, then
    s_k = d_k·s_{k−1} + (1 − d_k)·p_k with d_k = min(decay, k / (9 + k)) — diffusers' warm-up — by hand."""
    record = _RecordTrainedWeights()
    trainer = RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(),
        make_args(tmp_path, max_steps=4, use_ema=True, ema_decay=0.3),
        tone_preference_dataset(12),
        tone_pretrain_dataset(8),
        callbacks=[record.callback],
    )
    trainer.train()
    trainer.save_model()
    average = dict(record.steps[0])
    for k, weights in enumerate(record.steps[1:], start=2):
        decay = min(0.3, k / (9 + k))
        average = {n: decay * average[n] + (1 - decay) * weights[n] for n in average}
    saved = DiffusionPipeline.from_pretrained(tmp_path / "out", trust_remote_code=True).unet.state_dict()
    name = next(iter(average))
    torch.testing.assert_close(saved[name], average[name], atol=1e-6, rtol=0)
    assert all(torch.allclose(saved[n], average[n], atol=1e-6) for n in average)
    assert not torch.allclose(saved[name], record.steps[-1][name])  # not the last weights
    live = dict(trainer.model.named_parameters())[name]
    assert torch.equal(live, record.steps[-1][name])  # training's own weights are back in place


def test_ema_resumes_from_its_checkpoint(tmp_path):
    """A run stopped after its step-2 checkpoint and resumed ends with the average of a run that
    never stopped (the average and its step count come back from ``ema.safetensors``)."""
    from transformers import TrainerCallback

    class StopAfterTwo(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 2
            return control

    torch.set_num_threads(1)
    settings = {"max_steps": 4, "use_ema": True, "ema_decay": 0.5, "save_strategy": "steps", "save_steps": 2}
    straight = make_trainer(tmp_path / "a", **settings)
    straight.train()
    stopped = make_trainer(tmp_path / "b", **settings)
    stopped.add_callback(StopAfterTwo())
    stopped.train()
    assert (tmp_path / "b" / "out" / "checkpoint-2" / "ema.safetensors").is_file()
    assert not (tmp_path / "b" / "out" / "checkpoint-4").exists()
    resumed = make_trainer(tmp_path / "b", **settings)
    resumed.train(resume_from_checkpoint="last")
    assert resumed.ema.ema.optimization_step == 4
    for a, b in zip(straight.ema.ema.shadow_params, resumed.ema.ema.shadow_params, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_ema_decay_outside_zero_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"ema_decay must lie in \(0, 1\), got 1.0"):
        make_args(tmp_path, use_ema=True, ema_decay=1.0)


# ------------------------------------------------------------------ KTO and CRPO losses by hand
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_kto_loss_against_a_hand_computation():
    """g = e_ref − e_θ = (0.5, −0.5, 0.5); z = mean g = 1/6; inside = s·β·(g − z) with β = 2."""
    from baton_tta.trainer import diffusion_kto_loss

    model = torch.tensor([1.0, 2.0, 0.5])
    reference = torch.tensor([1.5, 1.5, 1.0])
    desirable = torch.tensor([True, False, False])
    loss, metrics = diffusion_kto_loss(model, reference, desirable, 2.0, 1.0, 1.5)
    z = 1 / 6
    inside = [2 * (0.5 - z), -2 * (-0.5 - z), -2 * (0.5 - z)]
    weights = [1.0, 1.5, 1.5]
    expected = sum(w * (1 - _sigmoid(x)) for w, x in zip(weights, inside, strict=True)) / 3
    assert math.isclose(float(loss), expected, rel_tol=1e-6)
    assert math.isclose(float(metrics["kto_reference_point"]), z, rel_tol=1e-6)
    assert math.isclose(float(metrics["kto_implicit_accuracy"]), 2 / 3, rel_tol=1e-6)
    # a negative mean implicit reward is clipped to a reference point of 0; a given one is used
    loss, metrics = diffusion_kto_loss(reference, model, desirable, 2.0)
    assert float(metrics["kto_reference_point"]) == 0.0
    expected = ((1 - _sigmoid(2 * -0.5)) + (1 - _sigmoid(-2 * 0.5)) + (1 - _sigmoid(-2 * -0.5))) / 3
    assert math.isclose(float(loss), expected, rel_tol=1e-6)
    _, metrics = diffusion_kto_loss(model, reference, desirable, 2.0, reference_point=torch.tensor(0.25))
    assert float(metrics["kto_reference_point"]) == 0.25


def test_kto_loss_rewards_a_model_better_than_its_reference_on_desirable_clips():
    """The sign: lowering the desirable clip's MSE below the reference's lowers the loss; lowering the
    undesirable clip's raises it."""
    from baton_tta.trainer import diffusion_kto_loss

    reference = torch.tensor([1.0, 1.0])
    desirable = torch.tensor([True, False])
    base, _ = diffusion_kto_loss(reference.clone(), reference, desirable, 5.0)
    better_good, _ = diffusion_kto_loss(torch.tensor([0.9, 1.0]), reference, desirable, 5.0)
    better_bad, _ = diffusion_kto_loss(torch.tensor([1.0, 0.9]), reference, desirable, 5.0)
    assert math.isclose(float(base), 0.5, rel_tol=1e-6)
    assert float(better_good) < float(base) < float(better_bad)


def test_crpo_is_dpo_plus_the_chosen_denoising_loss():
    model_w, model_l = torch.tensor([0.4, 0.8]), torch.tensor([0.6, 0.5])
    ref_w, ref_l = torch.tensor([0.5, 0.7]), torch.tensor([0.5, 0.6])
    dpo, _ = diffusion_dpo_loss(model_w, model_l, ref_w, ref_l, 10.0)
    inside = [-5.0 * ((0.4 - 0.6) - (0.5 - 0.5)), -5.0 * ((0.8 - 0.5) - (0.7 - 0.6))]
    assert math.isclose(float(dpo), sum(-math.log(_sigmoid(x)) for x in inside) / 2, rel_tol=1e-6)
    crpo, metrics = diffusion_dpo_loss(model_w, model_l, ref_w, ref_l, 10.0, rpo_alpha=0.5)
    assert math.isclose(float(crpo), float(dpo) + 0.5 * 0.6, rel_tol=1e-6)
    assert math.isclose(float(metrics["loss_chosen"]), 0.6, rel_tol=1e-6)


def test_objective_configs_refuse_what_does_not_apply(tmp_path):
    from baton_tta.trainer import DiffusionCRPOConfig, DiffusionKTOConfig

    with pytest.raises(ValueError, match="CRPO needs rpo_alpha > 0"):
        make_args(tmp_path, DiffusionCRPOConfig, rpo_alpha=0.0)
    with pytest.raises(ValueError, match="KTO thresholds the reward"):
        make_args(tmp_path, DiffusionKTOConfig, reward_transform="exp")
    with pytest.raises(ValueError, match=r"kto_reward_threshold must lie in \(0, 1\)"):
        make_args(tmp_path, DiffusionKTOConfig, kto_reward_threshold=1.0)
    with pytest.raises(ValueError, match="undesirable_weight must be > 0"):
        make_args(tmp_path, DiffusionKTOConfig, undesirable_weight=0.0)
    assert make_args(tmp_path, DiffusionKTOConfig).beta == 0.0  # pure KTO unless asked


def test_no_pinned_memory_without_an_accelerator(tmp_path):
    """On the CPU the Trainer's default (pin the batches) would only make torch warn on every run."""
    import warnings

    args = RewardWeightedDiffusionConfig(output_dir=str(tmp_path), audio_length_s=1.0, report_to="none")
    assert args.dataloader_pin_memory is False
    trainer = make_trainer(tmp_path, dataloader_pin_memory=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        next(iter(trainer.get_train_dataloader()))
    assert not [w for w in caught if "pin_memory" in str(w.message)]


def test_pairs_that_teach_nothing_are_refused_or_noted_in_the_card(tmp_path):
    """Found by the third trust pass: CRPO on pairs whose chosen equals rejected, or on pairs that
    contradict each other, trained with exit 0 and no warning."""
    pairs = _pairwise(4).to_list()
    same = [{**row, "rejected": row["chosen"]} for row in pairs]
    features = _pairwise(1).features
    with pytest.raises(
        ValueError, match=r"in every pair \(4\) the chosen and rejected clips are the same clip"
    ):
        DiffusionDPOTrainer(
            tiny_tango_pipeline(),
            make_args(tmp_path, DiffusionDPOConfig),
            Dataset.from_list(same).cast(features),
        )
    crpo = DiffusionCRPOTrainer(
        tiny_tango_pipeline(),
        make_args(tmp_path, DiffusionCRPOConfig),
        Dataset.from_list(same).cast(features),
    )
    assert crpo.run_notes() == [
        "4 of 4 pairs have the same clip as chosen and rejected (no DPO gradient): rows 0, 1, 2, 3"
    ]
    swapped = {**pairs[0], "chosen": pairs[0]["rejected"], "rejected": pairs[0]["chosen"]}
    dpo = DiffusionDPOTrainer(
        tiny_tango_pipeline(),
        make_args(tmp_path, DiffusionDPOConfig),
        Dataset.from_list([*pairs, swapped]).cast(features),
    )
    assert dpo.run_notes() == [
        "2 of 5 pairs contradict another pair (the same two clips, the other way round): rows 0, 4"
    ]
    dpo.create_model_card(tmp_path / "card")
    assert "**Note:** 2 of 5 pairs contradict another pair" in (tmp_path / "card" / "README.md").read_text()


def test_kto_on_one_class_says_so_in_the_log_and_the_card(tmp_path, caplog):
    from baton_tta.trainer import DiffusionKTOConfig, DiffusionKTOTrainer

    aligned = tone_preference_dataset(8, reward_rows=False).map(lambda row: {"label": 1, "reward": 1.0})
    with caplog.at_level("WARNING"):
        trainer = DiffusionKTOTrainer(
            tiny_tango_pipeline(), make_args(tmp_path, DiffusionKTOConfig), aligned, tone_pretrain_dataset(4)
        )
    message = "all 8 training rows are desirable (reward ≥ kto_reward_threshold 0.5)"
    assert message in caplog.text and trainer.run_notes()[0].startswith(message)


def test_loss_terms_stay_on_the_device_until_a_logging_step(tmp_path):
    """No host read per metric per step: the terms are kept as tensors and averaged once in log()."""
    trainer = make_trainer(tmp_path)
    inputs = next(iter(trainer.get_train_dataloader()))
    trainer.compute_loss(trainer.model, inputs)
    assert trainer._metrics and all(
        isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
        for vs in trainer._metrics.values()
        for v in vs
    )
    trainer._metrics.clear()
    trainer._metrics["loss_preference"] += [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(6.0)]
    trainer.log({"loss": 0.5})
    assert trainer.state.log_history[-1]["loss_preference"] == 3.0 and not trainer._metrics


def test_ema_updates_every_tensor_in_one_foreach_call_with_the_per_tensor_result():
    from baton_tta.trainer.ema import TrainedWeightsEMA

    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    average = TrainedWeightsEMA(module, decay=0.9)
    shadows = [p.detach().clone() for p in module.parameters()]
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    average.ema.optimization_step = 10**6  # diffusers' warm-up makes the decay step-dependent
    decay = average.ema.get_decay(10**6 + 1)
    calls = []
    original = torch._foreach_sub_
    torch._foreach_sub_ = lambda *a, **k: (calls.append(len(a[0])), original(*a, **k))[1]
    try:
        average.step()
    finally:
        torch._foreach_sub_ = original
    assert calls == [4]  # the four tensors in one call
    for shadow, p, new in zip(shadows, module.parameters(), average.ema.shadow_params):
        torch.testing.assert_close(new, shadow - (1 - decay) * (shadow - p.detach()), rtol=1e-6, atol=1e-7)


def test_a_lora_save_neither_copies_nor_changes_the_trained_denoiser_and_a_push_saves_once(
    tmp_path, monkeypatch
):
    """Merging used to deep-copy the trained denoiser (on the GPU) and build a second randomly
    initialised one; ``train.py``'s push saved the whole pipeline a second time."""
    import copy

    trainer = make_trainer(tmp_path, use_lora=True, lora_rank=4, lora_alpha=8, merge_lora=True)
    trainer.train()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    copies, deepcopy = [], copy.deepcopy

    def copying(thing, *args, **kwargs):
        if isinstance(thing, torch.nn.Module):
            copies.append(type(thing).__name__)
        return deepcopy(thing, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", copying)
    saves = []
    original = type(trainer).save_pipeline
    monkeypatch.setattr(type(trainer), "save_pipeline", lambda self, d: saves.append(d) or original(self, d))
    monkeypatch.setattr("baton_tta.trainer.base.push_folder", lambda *a, **k: "pushed")
    trainer.save_model()
    trainer.push_to_hub()
    assert len(saves) == 1 and not copies
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # adapters not merged into the trained one


def test_the_uncached_collator_only_decodes_and_the_step_encodes_as_the_cache_does(tmp_path):
    """The uncached collator runs no model (every frozen component parked behind its tripwire: a call
    would raise) and reads nothing from a device: it returns the captions and one stacked waveform
    tensor for a single pinned copy, so forked loader workers never touch CUDA. Encoded in the step
    (``_prepare_inputs``), the batch equals the cached path's tensor for tensor."""
    from baton_tta.estimate.host_reads import HostReadCounter

    cached = make_trainer(tmp_path / "cached", cache_latents=True)
    uncached = make_trainer(tmp_path / "uncached", cache_latents=False)
    items = [uncached.train_dataset[i] for i in range(4)]
    uncached.parking.park(torch.device("cpu"))  # the tripwire, on the same device
    with HostReadCounter() as reads:
        raw = uncached.data_collator(items)
    uncached.parking.unpark_to(uncached.args.device)
    assert reads.total == 0
    for part in ("audio", "pretrain"):
        assert set(raw[part]) == {"prompts", "waveform"} and len(raw[part]["prompts"]) == 4
        assert raw[part]["waveform"].shape == (4, 1, uncached.encoder.num_samples)
    encoded, expected = uncached._prepare_inputs(raw), cached._prepare_inputs(cached.data_collator(items))
    for part in ("audio", "pretrain"):
        for key in ("latent_mean", "latent_std"):
            assert encoded[part][key].is_contiguous()  # randn_like follows strides: the same draw
            assert torch.equal(encoded[part][key], expected[part][key]), (part, key)
        for key, value in expected[part]["conditioning"].items():
            assert torch.equal(encoded[part]["conditioning"][key], value), (part, key)


def test_a_run_shorter_than_logging_steps_logs_its_last_step_draws_it_and_says_what_it_wrote(
    tmp_path, capsys
):
    """Found by the new-user probe: ``--max_steps 4`` with the recipe's ``logging_steps`` printed
    "training curves written" with no PNG written, and the card said "final logged train loss: n/a".
    The last step is always logged; the card's loss is that logged value; the message names only what
    was written."""
    trainer = make_trainer(tmp_path, max_steps=2, logging_steps=10, condition_dropout=0.0)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert [entry["step"] for entry in logged] == [2]
    folder = trainer.save_pipeline(tmp_path / "saved")
    assert (folder / "training_curves.png").stat().st_size > 1000
    assert f"final logged train loss: {logged[-1]['loss']:.4g}" in (folder / "README.md").read_text()
    assert "pipeline, model card and training curves written to" in capsys.readouterr().out
    trainer.state.log_history = []  # nothing logged: no curves, and the message does not claim them
    trainer.save_pipeline(tmp_path / "bare")
    assert not (tmp_path / "bare" / "training_curves.png").exists()
    assert f"pipeline and model card written to {(tmp_path / 'bare').resolve()}" in capsys.readouterr().out
