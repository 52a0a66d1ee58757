"""GRPO: each step's log-probability is the Gaussian density of the sampler's own step (DDIM with
η > 0, the flow scheduler's stochastic mode), the surrogate, the KL and the advantages against hand
computations, the update calls every family's denoiser exactly as its pipeline did, a reward for one
known sound rises within a few updates on the toy world, reused rollouts move and clip the ratio, a
SIGKILLed run resumes on the same trajectory, and GRPO as the objective of online rounds."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from baton_tta.estimate.grpo import Loudness
from helpers import run_script

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
PROMPTS = Dataset.from_dict({"prompt": ["a dog barks", "rain on a roof", "a bell rings"]})


def _grpo_args(tmp_path, **fields):
    from baton_tta.trainer import DiffusionGRPOConfig

    settings = {
        "output_dir": str(tmp_path / "out"),
        "report_to": "none",
        "max_steps": 2,
        "num_inference_steps": 4,
        "num_generations": 3,
        "per_device_train_batch_size": 2,
        "audio_length_s": 1.0,
        "save_strategy": "no",
        "logging_steps": 1,
        "learning_rate": 1e-4,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": False,
        **fields,
    }
    return DiffusionGRPOConfig(**settings)


# ----------------------------------------------------------------------------- the policy's density
def test_ddim_step_log_prob_is_the_gaussian_density_of_the_schedulers_own_step():
    from diffusers import DDIMScheduler

    from baton_tta.families.sampling import DDIMSampler, RecordedStep, gaussian_log_prob

    config = DDIMScheduler(
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon"
    ).config
    sampler = DDIMSampler(config, eta=0.7)
    scheduler = sampler.new_scheduler()
    scheduler.set_timesteps(10)
    t = scheduler.timesteps[3]
    x, epsilon = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    prev = scheduler.step(epsilon, t, x, eta=0.7, generator=torch.Generator().manual_seed(5)).prev_sample
    drawn = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))

    # DDIM by hand (Song et al. 2021, eq. 12 and 16)
    a_t = scheduler.alphas_cumprod[t]
    a_prev = scheduler.alphas_cumprod[t - 1000 // 10]
    sigma = 0.7 * torch.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    x0 = (x - torch.sqrt(1 - a_t) * epsilon) / torch.sqrt(a_t)
    mean = torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev - sigma**2) * epsilon

    got_mean, got_std = sampler.mean_and_std(scheduler, epsilon, RecordedStep(x, epsilon, t, None, prev))
    torch.testing.assert_close(got_mean, mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_std, sigma.expand(2), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close((prev - mean) / sigma, drawn, rtol=1e-4, atol=1e-4)  # that Gaussian, drawn
    by_hand = torch.distributions.Normal(mean, sigma).log_prob(prev).flatten(1).mean(1)
    torch.testing.assert_close(gaussian_log_prob(prev, got_mean, got_std), by_hand, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="eta > 0"):
        DDIMSampler(config, eta=0.0)


def test_flow_stochastic_step_log_prob_is_the_gaussian_density_of_the_schedulers_own_step():
    from diffusers import FlowMatchEulerDiscreteScheduler

    from baton_tta.families.sampling import FlowPingPongSampler, gaussian_log_prob, recording_steps

    sampler = FlowPingPongSampler(FlowMatchEulerDiscreteScheduler(shift=3.0).config)
    scheduler = sampler.new_scheduler()
    assert scheduler.config.stochastic_sampling
    scheduler.set_timesteps(6)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 8, 16)
    velocities = [torch.randn(2, 8, 16) for _ in scheduler.timesteps]
    with recording_steps(scheduler) as steps:
        for t, v in zip(scheduler.timesteps, velocities, strict=True):
            x = scheduler.step(v, t, x, generator=generator).prev_sample
    replay = torch.Generator().manual_seed(3)
    for j, step in enumerate(steps):
        drawn = torch.randn(x.shape, generator=replay)
        sigma, sigma_next = scheduler.sigmas[j], scheduler.sigmas[j + 1]
        mean = (1 - sigma_next) * (step.sample - sigma * step.model_output)  # x̂₀ re-noised to σ_next
        got_mean, got_std = sampler.mean_and_std(scheduler, step.model_output, step)
        torch.testing.assert_close(got_mean, mean)
        assert step.step_index == j and torch.allclose(got_std, sigma_next.expand(2))
        if sigma_next > 0:
            torch.testing.assert_close((step.prev_sample - mean) / sigma_next, drawn, rtol=1e-4, atol=1e-4)
            by_hand = (
                torch.distributions.Normal(mean, sigma_next).log_prob(step.prev_sample).flatten(1).mean(1)
            )
            torch.testing.assert_close(gaussian_log_prob(step.prev_sample, got_mean, got_std), by_hand)
    assert (
        float(
            steps[-1]
            .prev_sample.sub((1 - 0) * (steps[-1].sample - scheduler.sigmas[-2] * steps[-1].model_output))
            .abs()
            .max()
        )
        < 1e-5
    )  # the last step is deterministic (σ_next = 0): no density, skipped by GRPO


# ----------------------------------------------------------------------------- the loss
def test_grpo_loss_clips_like_ppo_and_adds_the_kl_by_hand():
    from baton_tta.families.sampling import gaussian_mean_kl
    from baton_tta.trainer import grpo_loss

    log_probs = torch.tensor([0.0, 0.5, -0.5, 0.1], requires_grad=True)
    advantages = torch.tensor([1.0, 1.0, -1.0, -1.0])
    kl = torch.tensor([0.1, 0.2, 0.3, 0.4])
    loss, metrics = grpo_loss(log_probs, torch.zeros(4), advantages, 0.2, 0.2, kl, beta=0.5)
    # min(ρA, clip(ρ)A): 1; min(1.6487, 1.2) = 1.2; min(−0.6065, −0.8) = −0.8; −1.1052 (inside the clip)
    surrogate = (1.0 + 1.2 - 0.8 - math.exp(0.1)) / 4
    assert float(loss.detach()) == pytest.approx(-surrogate + 0.5 * 0.25, rel=1e-6)
    assert float(metrics["clip_ratio"]) == 0.5 and float(metrics["kl"]) == pytest.approx(0.25)
    assert float(metrics["ratio"]) == pytest.approx((1 + math.exp(0.5) + math.exp(-0.5) + math.exp(0.1)) / 4)
    loss.backward()
    # clipped clips pass no gradient; the others −ρ·A/4
    expected = torch.tensor([-0.25, 0.0, 0.0, math.exp(0.1) / 4])
    torch.testing.assert_close(log_probs.grad, expected)
    # an asymmetric clip (TRL's epsilon_high): the second clip is inside [0.8, 1.7]
    loose, _ = grpo_loss(log_probs.detach(), torch.zeros(4), advantages, 0.2, 0.7)
    assert float(loose) == pytest.approx(-(1.0 + math.exp(0.5) - 0.8 - math.exp(0.1)) / 4, rel=1e-6)

    mean, reference = torch.full((2, 3, 4), 0.3), torch.zeros(2, 3, 4)
    torch.testing.assert_close(
        gaussian_mean_kl(mean, reference, torch.tensor([0.5, 1.0])), torch.tensor([0.18, 0.045])
    )


def test_group_advantages_normalise_within_each_prompts_group():
    from baton_tta.trainer import group_advantages

    rewards = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    torch.testing.assert_close(
        group_advantages(rewards, 3), torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) / (1 + 1e-4)
    )
    torch.testing.assert_close(
        group_advantages(rewards, 3, "none"), torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    )
    batch_std = float(rewards.std())
    torch.testing.assert_close(
        group_advantages(rewards, 3, "batch"),
        torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) / (batch_std + 1e-4),
    )
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(rewards, 4)


# ----------------------------------------------------------------------------- the trainer
@pytest.mark.parametrize("family", ["TangoPipeline", "AudioLDM2Pipeline", "StableAudio3Pipeline"])
def test_the_update_calls_the_denoiser_as_the_pipeline_did(tmp_path, family):
    """At the sampling weights the recomputed step is the recorded one for every clip and step: the
    guided output equals what the pipeline's loop handed its scheduler, so every ratio starts at 1."""
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    guidance = 1.0 if family == "StableAudio3Pipeline" else 3.0
    trainer = DiffusionGRPOTrainer(
        tiny_pipeline(family, seed=0),
        _grpo_args(tmp_path, guidance_scale=guidance),
        train_dataset=PROMPTS,
        reward_funcs=Loudness(),
    )
    rollouts = trainer.roll_out([0, 2])
    assert rollouts.guided == (guidance > 1) and len(rollouts.steps) == 4
    assert rollouts.rewards.shape == (6,) and len(rollouts.waveforms) == 6
    stochastic = rollouts.stochastic_steps
    assert stochastic and all(float(rollouts.stds[j].min()) > 0 for j in stochastic)
    with torch.no_grad():
        for j in stochastic:
            output = trainer.policy_output(trainer.model, rollouts, j)
            torch.testing.assert_close(output, rollouts.steps[j].model_output, rtol=1e-5, atol=1e-6)
            log_probs, _ = trainer.step_log_prob(trainer.model, rollouts, j)
            torch.testing.assert_close(log_probs, rollouts.old_log_probs[j], rtol=1e-5, atol=1e-5)


def test_stable_audio_open_and_bad_settings_are_refused_with_the_reason(tmp_path):
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    with pytest.raises(ValueError, match="Brownian tree"):
        DiffusionGRPOTrainer(
            tiny_pipeline("StableAudioPipeline"),
            _grpo_args(tmp_path),
            train_dataset=PROMPTS,
            reward_funcs=Loudness(),
        )
    with pytest.raises(ValueError, match="at least 2"):
        _grpo_args(tmp_path, num_generations=1)
    with pytest.raises(ValueError, match="eta must be > 0"):
        _grpo_args(tmp_path, eta=0.0)
    with pytest.raises(ValueError, match="multiple of num_iterations"):
        _grpo_args(tmp_path, num_iterations=2, save_strategy="steps", save_steps=3)
    with pytest.raises(ValueError, match="2 reward_weights for 1"):
        DiffusionGRPOTrainer(
            tiny_pipeline("TangoPipeline"),
            _grpo_args(tmp_path, reward_weights=[1.0, 2.0]),
            train_dataset=PROMPTS,
            reward_funcs=Loudness(),
        )
    with pytest.raises(ValueError, match=r"row\(s\) \[1\] of column 'prompt'"):
        DiffusionGRPOTrainer(
            tiny_pipeline("TangoPipeline"),
            _grpo_args(tmp_path),
            train_dataset=Dataset.from_dict({"prompt": ["a dog", " "]}),
            reward_funcs=Loudness(),
        )


def test_a_reward_for_one_known_sound_rises_within_a_few_updates_on_the_toy_world(tmp_path):
    """The shipped toy TANGO, rewarded for how loud the hiss band is: the same prompts and noise
    (the update-0 seeds) sampled before and after 6 updates hiss more after."""
    from baton_tta.toy.online import EventLoudnessReward
    from baton_tta.toy.pretrained import load_toy_tango
    from baton_tta.trainer import DiffusionGRPOTrainer

    torch.set_num_threads(1)
    trainer = DiffusionGRPOTrainer(
        load_toy_tango(),
        _grpo_args(
            tmp_path,
            max_steps=6,
            num_inference_steps=6,
            num_generations=4,
            learning_rate=1e-3,
            beta=0.0,
            seed=1,
        ),
        train_dataset=Dataset.from_dict({"prompt": ["Hum can be heard", "A beep, bleep and a bell"]}),
        reward_funcs=EventLoudnessReward("hiss"),
    )
    before = trainer.roll_out([0, 1]).rewards
    trainer.train()
    assert trainer.state.global_step == 6
    trainer.state.global_step = 0  # the update-0 seeds again: the same noise
    after = trainer.roll_out([0, 1]).rewards
    assert float(after.mean() - before.mean()) > 0.5 * float(before.std()), (before, after)
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    assert len(rewards) == 6 and max(rewards[-2:]) > rewards[0]


def test_reused_rollouts_move_the_ratio_and_clip_it(tmp_path):
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    trainer = DiffusionGRPOTrainer(
        tiny_pipeline("TangoPipeline", seed=0),
        _grpo_args(tmp_path, num_iterations=2, learning_rate=1e-3, epsilon=1e-3, beta=0.0),
        train_dataset=PROMPTS,
        reward_funcs=Loudness(),
    )
    trainer.train()
    first, second = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert "reward" in first and "reward" not in second  # one batch of rollouts for both updates
    assert first["ratio"] == pytest.approx(1.0) and first["clip_ratio"] == 0.0
    assert second["ratio"] != pytest.approx(1.0, abs=1e-4) and second["clip_ratio"] > 0


def test_lora_trains_only_the_adapters_with_the_base_weights_as_the_reference(tmp_path):
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    trainer = DiffusionGRPOTrainer(
        tiny_pipeline("TangoPipeline", seed=0),
        _grpo_args(tmp_path, use_lora=True, lora_rank=4, learning_rate=1e-2, beta=0.5),
        train_dataset=PROMPTS,
        reward_funcs=Loudness(),
    )
    assert trainer.reference_denoiser is None  # LoRA: no copy, the adapters switched off
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora" in k for k in changed)
    first, second = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert first["kl"] == 0.0 and second["kl"] > 0  # the adapters moved away from the base weights


def test_costs_are_printed_before_the_run_and_disable_tqdm_hides_the_rollout_bar(tmp_path, capsys):
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    trainer = DiffusionGRPOTrainer(
        tiny_pipeline("TangoPipeline", seed=0),
        _grpo_args(tmp_path, max_steps=1, timestep_fraction=0.5, disable_tqdm=True),
        train_dataset=PROMPTS,
        reward_funcs=[Loudness(), Loudness()],
    )
    trainer.train()
    captured = capsys.readouterr()
    printed = captured.out
    assert "sampling rollouts" not in captured.err and "it/s" not in captured.err
    # 2 prompts × 3 clips, 4 steps × 2 (guidance) to sample; 2 of 4 steps trained, × 2, plus the reference
    assert "6 clips (2 prompts × 3), 48 denoiser forward passes" in printed
    assert "at most 24 forward+backward passes (2 of 4 steps × 2 for guidance) and 24 reference" in printed
    card = (tmp_path / "out").joinpath("README.md")
    trainer.save_model()
    assert "3 prompts" in card.read_text() and "GRPO" in card.read_text()


# ----------------------------------------------------------------------------- the command, resume, rounds
GRPO_ARGS = [
    "--pipeline_name_or_path",
    "tiny-random",
    "--dataset_name",
    "toy",
    "--toy_prompts_per_task",
    "2",
    "--audio_length_s",
    "0.5",
    "--num_generations",
    "2",
    "--num_inference_steps",
    "3",
    "--per_device_train_batch_size",
    "2",
    "--max_steps",
    "4",
    "--save_steps",
    "2",
    "--learning_rate",
    "1e-3",
    "--logging_steps",
    "1",
    "--report_to",
    "none",
    "--dataloader_num_workers",
    "0",
    "--seed",
    "3",
]


def _tiny_reward_model(folder: Path) -> list[str]:
    """A saved random tiny reward model (trained reward models are the toy world's tests' business)."""
    from baton_tta.tiny import tiny_reward_model

    tiny_reward_model().save_pretrained(folder)
    return ["--reward_model_name_or_path", str(folder)]


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_same_trajectory(tmp_path, caplog):
    from baton_tta.cli import main

    reward = _tiny_reward_model(tmp_path / "reward-model")
    reference = tmp_path / "reference"
    # the uninterrupted run in this process (one thread, as the others): only the kill needs a process
    assert main(["train-grpo", *GRPO_ARGS, *reward, "--output_dir", str(reference)]) == 0
    run = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "trainers" / "train_grpo.py"),
            *GRPO_ARGS,
            *reward,
            "--output_dir",
            str(run),
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not (run / "checkpoint-2" / "trainer_state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run / "model_index.json").exists(), "killed before the end"
    caplog.set_level("INFO", logger="baton_tta.trainer")  # the resume, here too
    assert (
        main(
            ["train-grpo", *GRPO_ARGS, *reward, "--output_dir", str(run), "--resume_from_checkpoint", "last"]
        )
        == 0
    )
    assert "resuming from" in caplog.text
    expected, got = (
        load_file(reference / "unet" / "diffusion_pytorch_model.safetensors"),
        load_file(run / "unet" / "diffusion_pytorch_model.safetensors"),
    )
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)

    def rewards(folder: Path) -> list[float]:
        state = json.loads((folder / "checkpoint-4" / "trainer_state.json").read_text())
        return [entry["reward"] for entry in state["log_history"] if "reward" in entry]

    assert rewards(run)[2:] == rewards(reference)[2:] and len(rewards(reference)) == 4
    # every clip's reward is kept through the kill (checkpoints carry them): 4 updates × 2 prompts × 2 clips
    seen = [
        json.loads((folder / "checkpoint-4" / "rewards-rank0.json").read_text())
        for folder in (run, reference)
    ]
    assert seen[0] == seen[1] and len(seen[0]) == 4 * 2 * 2


def test_grpo_as_the_objective_of_online_rounds(tmp_path):
    from baton_tta.online import OnlineConfig
    from baton_tta.trainer import DiffusionGRPOConfig

    config = OnlineConfig(
        output_dir=str(tmp_path),
        objective="grpo",
        clips_per_prompt=5,
        objective_args={"beta": 0.1, "per_device_train_batch_size": 3},
        beta=0.5,  # BATON's pretrain weight: not GRPO's KL weight, which keeps its own name
        per_device_train_batch_size=6,  # BATON's rows per step: not GRPO's prompts per update
    )
    args = config.round_training_args(tmp_path / "t")
    assert type(args) is DiffusionGRPOConfig
    assert (args.num_generations, args.beta, args.per_device_train_batch_size) == (5, 0.1, 3)
    defaults = OnlineConfig(output_dir=str(tmp_path), objective="grpo").round_training_args(tmp_path / "t")
    assert (defaults.beta, defaults.per_device_train_batch_size) == (0.04, 2)  # GRPO's own defaults
    with pytest.raises(
        ValueError, match=r"objective_args \['kl_beta'\] are not fields of DiffusionGRPOConfig"
    ):
        OnlineConfig(output_dir=str(tmp_path), objective="grpo", objective_args='{"kl_beta": 0.1}')
    with pytest.raises(ValueError, match="feedback_clips_per_round 0"):
        OnlineConfig(output_dir=str(tmp_path), objective="grpo", feedback_clips_per_round=4)

    out = tmp_path / "online"
    run_script(
        ROOT / "trainers" / "train_online.py",
        [
            "--config",
            str(ROOT / "recipes" / "online_toy.yaml"),
            "--objective",
            "grpo",
            "--num_rounds",
            "1",
            "--toy_prompts_per_task",
            "2",
            "--toy_eval_prompts_per_task",
            "1",
            "--clips_per_prompt",
            "3",
            "--eval_clips_per_prompt",
            "1",
            "--num_inference_steps",
            "3",
            "--max_steps",
            "2",
            "--save_steps",
            "2",
            "--toy_reward_prompts",
            "4",
            "--output_dir",
            str(out),
        ],
        ENV,
    )
    assert json.loads((out / "round-1" / "state.json").read_text())["done"][-3:] == ["train", "judge", "save"]
    assert not (out / "round-1" / "clips").exists()  # GRPO samples inside its updates
    scores = json.loads((out / "round-1" / "scores.json").read_text())
    assert len(scores) == 2 * 2 * 3  # updates × prompts per update × clips per prompt
    metrics = json.loads((out / "round-1" / "metrics.json").read_text())
    assert metrics["reward_mean_train_clips"] == pytest.approx(sum(scores) / len(scores))
    assert metrics["train_rows"] == 4  # the round's data: its prompts
    card = (out / "round-1" / "pipeline" / "README.md").read_text()
    assert "GRPO updates" in card and "4 prompts" in card


class Constant:
    """A reward that never differs: GRPO's advantages are all zero."""

    def score(self, prompts, audios, sampling_rate):
        return [0.5] * len(audios)


def test_a_constant_reward_is_said_in_the_log_and_the_card(tmp_path, caplog):
    """Found by the third trust pass: GRPO with a constant reward trained, exit 0, no word of it."""
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOTrainer

    trainer = DiffusionGRPOTrainer(
        tiny_pipeline("TangoPipeline", seed=0),
        _grpo_args(tmp_path),
        train_dataset=PROMPTS,
        reward_funcs=Constant(),
    )
    with caplog.at_level("WARNING"):
        trainer.train()
    assert "update 1: every group's clips got the same reward" in caplog.text
    assert [e["frac_reward_zero_std"] for e in trainer.state.log_history if "frac_reward_zero_std" in e] == [
        1.0,
        1.0,
    ]
    trainer.save_model()
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**Note:** in all 3 groups of 3 clips every clip got the same reward" in card
    loud = DiffusionGRPOTrainer(
        tiny_pipeline("TangoPipeline", seed=0),
        _grpo_args(tmp_path / "loud"),
        train_dataset=PROMPTS,
        reward_funcs=Loudness(),
    )
    loud.train()
    assert loud.run_notes() == []
