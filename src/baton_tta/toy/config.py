"""One toy run's sizes and settings, and the trainer arguments every toy fine-tune shares (the main
job's, and the comparisons' in ``benchmarks/toy/``, which add their own settings to these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton_tta.toy.world import GROUP_SIZES
from baton_tta.trainer import RewardWeightedDiffusionConfig


@dataclass
class ToyLoopConfig:
    """Sizes and settings of one toy run: the toy world's construction (stage 0, which
    ``build_pretrained`` runs at these defaults), feedback, reward model, fine-tuning and judging."""

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
    #: Diffusion-KTO's settings (the recommended objective for binary labels): the point the
    #: objectives benchmark chose on its validation prompts (``benchmarks/toy/README.md``).
    kto_beta: float = 300.0
    kto_learning_rate: float = 1e-4
    bootstrap_samples: int = 1000
    #: A folder with ``toy-tango`` and ``toy-clap`` (:mod:`baton_tta.toy.pretrained`): stage 0 loads
    #: them instead of training.
    pretrained: str | None = None


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
