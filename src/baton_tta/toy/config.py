"""One toy run's sizes and settings, stage 3's conditions, and the trainer arguments every toy
fine-tune shares (the loop's conditions and the rounds comparison alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton_tta.toy.world import GROUP_SIZES
from baton_tta.trainer import RewardWeightedDiffusionConfig


@dataclass
class ToyLoopConfig:
    """Sizes and settings of one toy run; :meth:`smoke` is the seconds-long version the tests use."""

    seed: int = 0
    threads: int = 2
    duration_s: float = 1.0
    vae_clips: int = 256
    vae_steps: int = 200
    clap_pairs: int = 512
    clap_steps: int = 300
    pretrain_pairs: int = 1024
    pretrain_steps: int = 1000
    pretrain_learning_rate: float = 2e-3
    batch_size: int = 16
    train_prompts: dict[str, int] = field(default_factory=lambda: {"integrity": 30, "temporal": 30})
    #: Held-out prompts: integrity draws from every pair and triple of the 10 events (165 groups, so
    #: 135 are left after training's 30), temporal from ordered triples (720).
    eval_prompts: dict[str, int] = field(default_factory=lambda: {"integrity": 135, "temporal": 100})
    group_sizes: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(GROUP_SIZES))
    clips_per_prompt: int = 5
    #: Clips per held-out prompt and task: integrity's clips of one prompt correlate (ICC ≈ 0.25) and
    #: its prompts are capped at 135, so it takes 8 clips for a ±5-point interval; temporal rates sit
    #: near 0.03, where 100 prompts × 4 clips already give about ±1.5 points.
    eval_clips_per_prompt: dict[str, int] = field(default_factory=lambda: {"integrity": 8, "temporal": 4})
    inference_steps: int = 10
    guidance_scale: float = 3.0
    #: Guidance for stage 1's training clips only (the judge keeps ``guidance_scale``); None: the same.
    #: Guided clips are not samples of the model itself; this separates what guidance does to the
    #: no-feedback control from what training on the model's own clips does.
    feedback_guidance_scale: float | None = None
    #: DDIM steps for stage 1's training clips only; None: ``inference_steps``. Few steps draw from a
    #: distribution other than the model's own, the other way its clips can pull it.
    feedback_inference_steps: int | None = None
    annotator_noise: float = 0.05
    annotator_skip: float = 0.05
    reward_epochs: int = 60
    finetune_steps: int = 100
    finetune_learning_rate: float = 2e-4
    beta: float = 0.5
    bootstrap_samples: int = 1000
    round_trip_clips: int = 64
    round_trip_iterations: tuple[int, ...] = (32, 128)
    #: Diffusion-DPO's β: Tango 2 pairs β = 2000 with a learning rate of about 1e-6; 10 keeps their
    #: product at the toy learning rate.
    dpo_beta: float = 10.0
    #: Reward-model score gap below which a prompt's best and worst clip make no pair.
    dpo_min_margin: float = 0.1
    reward_curve_points: int = 4
    #: Stage 3's conditions to run (names of CONDITIONS); all of them when None.
    conditions: tuple[str, ...] | None = None
    #: A folder with ``toy-tango`` and ``toy-clap`` (:mod:`baton_tta.toy.pretrained`): stage 0 loads
    #: them instead of training.
    pretrained: str | None = None

    @classmethod
    def smoke(cls) -> ToyLoopConfig:
        """Seconds-long sizes on one thread: tests run two at a time on two cores, and two processes
        of two threads each made these runs ten times slower."""
        return cls(
            threads=1,
            vae_clips=16,
            vae_steps=2,
            clap_pairs=16,
            clap_steps=2,
            pretrain_pairs=16,
            pretrain_steps=2,
            batch_size=4,
            train_prompts={"integrity": 4, "temporal": 4},
            eval_prompts={"integrity": 1, "temporal": 1},
            clips_per_prompt=2,
            eval_clips_per_prompt={"integrity": 2, "temporal": 2},
            inference_steps=2,
            reward_epochs=2,
            finetune_steps=2,
            bootstrap_samples=50,
            round_trip_clips=2,
            round_trip_iterations=(2,),
            dpo_min_margin=0.0,  # the smoke reward model barely separates clips
        )


#: Stage 3's conditions: which rows train, and β (paper Tables 5–7); the last is Tango 2's route,
#: Diffusion-DPO on pairs the reward model ranked, from the same clips. "pretrain term only" weighs
#: every generated clip 0, so only the β term trains: it splits the control's change into what the
#: fine-tune itself does and what training on the model's own clips does.
CONDITIONS: dict[str, dict[str, Any]] = {
    "no feedback (control)": {"rows": "all_as_aligned", "beta": True},
    "pretrain term only (clips weighted 0)": {"rows": "all_as_misaligned", "beta": True},
    "human rows": {"rows": "human", "beta": True},
    "reward-model rows": {"rows": "reward_model", "beta": True},
    "human + reward-model rows": {"rows": "both", "beta": True},
    "human + reward-model rows, beta = 0": {"rows": "both", "beta": False},
    "oracle labels (upper bound)": {"rows": "oracle", "beta": True},
    "Diffusion-DPO, reward-model-ranked pairs": {"rows": "dpo_pairs", "objective": "dpo"},
}


def toy_trainer_args(
    config: ToyLoopConfig, output_dir: Path, steps: int, lr: float, config_class=None, **fields: Any
):
    """The toy runs' trainer arguments: ``config_class`` (BATON's config unless given) with the
    shared schedule, seed and CPU settings, plus the objective's own ``fields``."""
    config_class = config_class or RewardWeightedDiffusionConfig
    return config_class(
        output_dir=str(output_dir),
        audio_length_s=config.duration_s,
        learning_rate=lr,
        per_device_train_batch_size=config.batch_size,
        max_steps=steps,
        lr_scheduler_type="cosine",
        warmup_steps=min(20, steps // 10),
        logging_steps=max(1, steps // 4),
        save_strategy="no",
        seed=config.seed,
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
        **fields,
    )
