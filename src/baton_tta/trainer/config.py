"""Configurations of stage 3, TRL style: a ``TrainingArguments`` dataclass per trainer.

:class:`DiffusionTrainingConfig` holds what every UNet fine-tuning run shares (data columns, clip
length, caching, LoRA, validation, the Trainer defaults a UNet needs);
:class:`RewardWeightedDiffusionConfig` adds BATON's loss (paper Eq. 7) and
:class:`DiffusionDPOConfig` Diffusion-DPO's (Tango 2). Every field is a CLI flag and a YAML key of
the training scripts (``TrlParser``); each docstring entry repeats its field's ``help`` word for word
(a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from baton_tta.data.audio import LENGTH_TOLERANCE
from baton_tta.data.settings import check_finite_settings
from baton_tta.families.noise import FLOW_LOSS_WEIGHTINGS, TIMESTEP_DENSITIES


@dataclass
class DiffusionTrainingConfig(TrainingArguments):
    r"""Arguments shared by the denoiser fine-tuning trainers.

    > Parameters that control the data

        prompt_column (`str`, defaults to "prompt"): Caption column.
        audio_length_s (`float`, defaults to 10.0): Clip length the model is trained on, in seconds (TANGO: 10); clips are decoded at the model's own rate and channels.
        audio_length_tolerance_s (`float` or `None`, defaults to None): Clips whose length differs from audio_length_s by more than this many seconds are an error; None: 3 percent of audio_length_s. Clips within it are padded with silence or cut, and the counts are logged.
        overwrite_output_dir (`bool`, defaults to False): Clear output_dir first when it holds another run's results (otherwise such a folder is refused).
        cache_latents (`bool`, defaults to True): Encode captions (T5) and clips (VAE) once before training; the uncached path re-encodes every step and gives identical losses.

    > Parameters that control the loss

        snr_gamma (`float` or `None`, defaults to None): Min-SNR-gamma loss weighting (TANGO trains with 5); None disables it. DDPM and v-objective families only.
        snr_weighting (`str`, defaults to "tango"): Min-SNR weight: "tango" = min(SNR, gamma)/SNR, as TANGO and the official BATON code (v-prediction too); "v_target" = min(SNR, gamma)/(SNR + 1) for v-prediction, as diffusers' examples.
        timestep_density (`str`, defaults to "uniform"): How continuous-time families (Stable Audio Open, Stable Audio 3) draw training timesteps: "uniform", "logit_normal" or "mode" (diffusers' compute_density_for_timestep_sampling). DDPM families draw uniformly.
        logit_mean (`float`, defaults to 0.0): Mean of the "logit_normal" timestep density.
        logit_std (`float`, defaults to 1.0): Standard deviation of the "logit_normal" timestep density.
        mode_scale (`float`, defaults to 1.29): Scale of the "mode" timestep density.
        flow_loss_weighting (`str`, defaults to "none"): Per-sample weight of rectified-flow families: "none", "sigma_sqrt" or "cosmap" (diffusers' compute_loss_weighting_for_sd3).
        condition_dropout (`float`, defaults to 0.1): Probability of replacing a caption's conditioning with the family's unconditional input (TANGO: zeroed states; others: the empty caption), which keeps classifier-free guidance working.

    > Parameters that control the model

        use_lora (`bool`, defaults to False): Train LoRA adapters on the denoiser's attention projections instead of the full denoiser.
        lora_rank (`int`, defaults to 16): LoRA rank.
        lora_alpha (`int`, defaults to 16): LoRA alpha.
        lora_target_modules (`list[str]` or `None`, defaults to None): Denoiser modules that get LoRA adapters; None takes the family's default (UNets: to_q, to_k, to_v, to_out.0; Stable Audio 3: to_qkv, to_q, to_kv, to_out).
        merge_lora (`bool`, defaults to True): Save the pipeline with the LoRA adapters merged into the denoiser (the adapters are saved beside it either way); False saves the base denoiser.
        use_ema (`bool`, defaults to False): Keep an exponential moving average of the trained weights (diffusers' EMAModel); checkpoints carry it and the saved pipeline has the averaged weights.
        ema_decay (`float`, defaults to 0.9999): The EMA's largest decay (diffusers' warm-up (1 + n) / (10 + n) rises to it).

    > Parameters that control validation

        validation_prompts (`list[str]`, defaults to []): Captions rendered every validation_every_n_steps steps.
        validation_every_n_steps (`int`, defaults to 0): Render the validation captions every n steps; 0 disables validation.
        num_validation_clips (`int`, defaults to 1): Clips per validation caption.
        validation_inference_steps (`int`, defaults to 50): Denoising steps of validation clips.
        validation_guidance_scale (`float`, defaults to 3.0): Classifier-free guidance of validation clips (1 switches it off).

    > Changed defaults (from `TrainingArguments`)

        learning_rate (`float`, defaults to 1e-05): AdamW learning rate (paper: 1e-5).
        per_device_train_batch_size (`int`, defaults to 6): Preference rows per step and device (paper: 6).
        num_train_epochs (`float`, defaults to 10.0): Epochs over the preference rows (paper: 10).
        remove_unused_columns (`bool`, defaults to False): Must stay False: the trainer reads its own columns.
        logging_steps (`float`, defaults to 10): Log every n steps.
        bf16 (`bool`, defaults to False): bf16 mixed precision (GPU).
    """

    # data
    prompt_column: str = field(default="prompt", metadata={"help": "Caption column."})
    audio_length_s: float = field(
        default=10.0,
        metadata={
            "help": "Clip length the model is trained on, in seconds (TANGO: 10); clips are decoded at the "
            "model's own rate and channels."
        },
    )
    audio_length_tolerance_s: float | None = field(
        default=None,
        metadata={
            "help": "Clips whose length differs from audio_length_s by more than this many seconds are an "
            "error; None: 3 percent of audio_length_s. Clips within it are padded with silence or cut, and the "
            "counts are logged."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Clear output_dir first when it holds another run's results (otherwise such a folder is refused)."
        },
    )
    cache_latents: bool = field(
        default=True,
        metadata={
            "help": "Encode captions (T5) and clips (VAE) once before training; the uncached path "
            "re-encodes every step and gives identical losses."
        },
    )
    # loss
    snr_gamma: float | None = field(
        default=None,
        metadata={
            "help": "Min-SNR-gamma loss weighting (TANGO trains with 5); None disables it. DDPM and "
            "v-objective families only."
        },
    )
    snr_weighting: str = field(
        default="tango",
        metadata={
            "help": 'Min-SNR weight: "tango" = min(SNR, gamma)/SNR, as TANGO and the official BATON code (v-prediction '
            'too); "v_target" = min(SNR, gamma)/(SNR + 1) for v-prediction, as diffusers\' examples.',
            "choices": ["tango", "v_target"],
        },
    )
    timestep_density: str = field(
        default="uniform",
        metadata={
            "help": "How continuous-time families (Stable Audio Open, Stable Audio 3) draw training timesteps: "
            '"uniform", "logit_normal" or "mode" (diffusers\' compute_density_for_timestep_sampling). DDPM '
            "families draw uniformly.",
            "choices": ["uniform", "logit_normal", "mode"],
        },
    )
    logit_mean: float = field(default=0.0, metadata={"help": 'Mean of the "logit_normal" timestep density.'})
    logit_std: float = field(
        default=1.0, metadata={"help": 'Standard deviation of the "logit_normal" timestep density.'}
    )
    mode_scale: float = field(default=1.29, metadata={"help": 'Scale of the "mode" timestep density.'})
    flow_loss_weighting: str = field(
        default="none",
        metadata={
            "help": 'Per-sample weight of rectified-flow families: "none", "sigma_sqrt" or "cosmap" '
            "(diffusers' compute_loss_weighting_for_sd3).",
            "choices": ["none", "sigma_sqrt", "cosmap"],
        },
    )
    condition_dropout: float = field(
        default=0.1,
        metadata={
            "help": "Probability of replacing a caption's conditioning with the family's unconditional "
            "input (TANGO: zeroed states; others: the empty caption), which keeps classifier-free "
            "guidance working."
        },
    )
    # model
    use_lora: bool = field(
        default=False,
        metadata={
            "help": "Train LoRA adapters on the denoiser's attention projections instead of the full denoiser."
        },
    )
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Denoiser modules that get LoRA adapters; None takes the family's default (UNets: to_q, "
            "to_k, to_v, to_out.0; Stable Audio 3: to_qkv, to_q, to_kv, to_out)."
        },
    )
    merge_lora: bool = field(
        default=True,
        metadata={
            "help": "Save the pipeline with the LoRA adapters merged into the denoiser (the adapters are saved "
            "beside it either way); False saves the base denoiser."
        },
    )
    use_ema: bool = field(
        default=False,
        metadata={
            "help": "Keep an exponential moving average of the trained weights (diffusers' EMAModel); "
            "checkpoints carry it and the saved pipeline has the averaged weights."
        },
    )
    ema_decay: float = field(
        default=0.9999,
        metadata={"help": "The EMA's largest decay (diffusers' warm-up (1 + n) / (10 + n) rises to it)."},
    )
    # validation
    validation_prompts: list[str] = field(
        default_factory=list,
        metadata={"help": "Captions rendered every validation_every_n_steps steps."},
    )
    validation_every_n_steps: int = field(
        default=0,
        metadata={"help": "Render the validation captions every n steps; 0 disables validation."},
    )
    num_validation_clips: int = field(default=1, metadata={"help": "Clips per validation caption."})
    validation_inference_steps: int = field(
        default=50, metadata={"help": "Denoising steps of validation clips."}
    )
    validation_guidance_scale: float = field(
        default=3.0,
        metadata={"help": "Classifier-free guidance of validation clips (1 switches it off)."},
    )
    # changed defaults (docs/architecture.md, "Pitfalls")
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate (paper: 1e-5)."})
    per_device_train_batch_size: int = field(
        default=6, metadata={"help": "Preference rows per step and device (paper: 6)."}
    )
    num_train_epochs: float = field(
        default=10.0, metadata={"help": "Epochs over the preference rows (paper: 10)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the trainer reads its own columns."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every n steps."})
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (GPU)."})

    def __post_init__(self):
        check_finite_settings(self)  # every subclass's fields too: they are all set by now
        super().__post_init__()
        if self.snr_gamma is not None and self.snr_gamma <= 0:
            raise ValueError(
                f"snr_gamma must be > 0 (or None to disable Min-SNR weighting), got {self.snr_gamma}"
            )
        for name, allowed in (
            ("timestep_density", TIMESTEP_DENSITIES),
            ("flow_loss_weighting", FLOW_LOSS_WEIGHTINGS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {self.ema_decay}")
        if self.audio_length_tolerance_s is None:
            self.audio_length_tolerance_s = LENGTH_TOLERANCE * self.audio_length_s
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.remove_unused_columns:
            raise ValueError("remove_unused_columns must be False: the trainer reads its own columns")
        if self.fp16 and self.device.type == "cpu":
            raise ValueError("fp16 needs a GPU: on the CPU it would not run, while the card would say it did")
        if self.device.type == "cpu":  # pinned host memory only speeds copies to an accelerator
            self.dataloader_pin_memory = False  # (torch warns when asked to pin without one)
        self.label_names = []  # the UNet has no labels; keeps Trainer from guessing "class_labels"


@dataclass
class RewardWeightedDiffusionConfig(DiffusionTrainingConfig):
    r"""Arguments of [`RewardWeightedDiffusionTrainer`] (BATON, paper Eq. 7); shared fields are
    documented on [`DiffusionTrainingConfig`].

    > Parameters that control the loss

        beta (`float`, defaults to 0.5): Weight of the pretrain denoising loss (paper Eq. 7; paper 0.5, official script 0.25).
        reward_transform (`str`, defaults to "identity"): f in f(r)·‖target − pred‖²: "identity" (official code) or "exp" (paper text); rewards must lie in [0, 1] for both.

    > Parameters that control the data

        audio_column (`str`, defaults to "audio"): Audio column.
        label_column (`str`, defaults to "label"): Binary label column (1 aligned, 0 not aligned, -1 skipped).
        reward_column (`str`, defaults to "reward"): Reward column (in [0, 1]).
        source_column (`str`, defaults to "source"): Row source column: "human", "reward_model" or "unlabelled".
        human_to_reward_ratio (`float` or `None`, defaults to 1.0): Human rows per reward-model row; the larger group is subsampled (seeded). None keeps every row.
    """

    beta: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the pretrain denoising loss (paper Eq. 7; paper 0.5, official script 0.25)."
        },
    )
    reward_transform: str = field(
        default="identity",
        metadata={
            "help": 'f in f(r)·‖target − pred‖²: "identity" (official code) or "exp" (paper text); '
            "rewards must lie in [0, 1] for both.",
            "choices": ["identity", "exp"],
        },
    )
    audio_column: str = field(default="audio", metadata={"help": "Audio column."})
    label_column: str = field(
        default="label", metadata={"help": "Binary label column (1 aligned, 0 not aligned, -1 skipped)."}
    )
    reward_column: str = field(default="reward", metadata={"help": "Reward column (in [0, 1])."})
    source_column: str = field(
        default="source",
        metadata={"help": 'Row source column: "human", "reward_model" or "unlabelled".'},
    )
    human_to_reward_ratio: float | None = field(
        default=1.0,
        metadata={
            "help": "Human rows per reward-model row; the larger group is subsampled (seeded). None keeps every row."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.reward_transform not in ("identity", "exp"):
            raise ValueError(f"reward_transform must be 'identity' or 'exp', got {self.reward_transform!r}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.human_to_reward_ratio is not None and self.human_to_reward_ratio <= 0:
            raise ValueError(f"human_to_reward_ratio must be > 0 or None, got {self.human_to_reward_ratio}")


@dataclass
class DiffusionDPOConfig(DiffusionTrainingConfig):
    r"""Arguments of [`DiffusionDPOTrainer`] (Diffusion-DPO on chosen / rejected pairs, as Tango 2);
    shared fields are documented on [`DiffusionTrainingConfig`].

    > Parameters that control the loss

        dpo_beta (`float`, defaults to 2000.0): β of the Diffusion-DPO loss (Tango 2 uses 2000–5000).
        rpo_alpha (`float` or `None`, defaults to None): Weight of the chosen clips' own denoising loss added to Diffusion-DPO (TRL's name; TangoFlux's CRPO adds it with weight 1); None or 0 leaves plain Diffusion-DPO.

    > Parameters that control the data

        chosen_column (`str`, defaults to "chosen"): Preferred-clip column.
        rejected_column (`str`, defaults to "rejected"): Dispreferred-clip column.
    """

    dpo_beta: float = field(
        default=2000.0, metadata={"help": "β of the Diffusion-DPO loss (Tango 2 uses 2000–5000)."}
    )
    rpo_alpha: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the chosen clips' own denoising loss added to Diffusion-DPO (TRL's name; "
            "TangoFlux's CRPO adds it with weight 1); None or 0 leaves plain Diffusion-DPO."
        },
    )
    chosen_column: str = field(default="chosen", metadata={"help": "Preferred-clip column."})
    rejected_column: str = field(default="rejected", metadata={"help": "Dispreferred-clip column."})

    def __post_init__(self):
        super().__post_init__()
        if self.dpo_beta <= 0:
            raise ValueError(f"dpo_beta must be > 0, got {self.dpo_beta}")
        if self.rpo_alpha is not None and self.rpo_alpha < 0:
            raise ValueError(f"rpo_alpha must be >= 0 (or None), got {self.rpo_alpha}")


@dataclass
class DiffusionCRPOConfig(DiffusionDPOConfig):
    r"""Arguments of [`DiffusionCRPOTrainer`] (TangoFlux's CRPO: Diffusion-DPO plus the chosen clips'
    denoising loss); every field is [`DiffusionDPOConfig`]'s, with ``rpo_alpha`` on.

    > Parameters that control the loss

        rpo_alpha (`float` or `None`, defaults to 1.0): Weight of the chosen clips' own denoising loss (TangoFlux adds it with weight 1).
    """

    rpo_alpha: float | None = field(
        default=1.0,
        metadata={
            "help": "Weight of the chosen clips' own denoising loss (TangoFlux adds it with weight 1)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.rpo_alpha:
            raise ValueError("CRPO needs rpo_alpha > 0 (0 or None is plain Diffusion-DPO: use train-dpo)")


@dataclass
class DiffusionKTOConfig(RewardWeightedDiffusionConfig):
    r"""Arguments of [`DiffusionKTOTrainer`] (Diffusion-KTO on BATON's binary rows); the data fields
    are [`RewardWeightedDiffusionConfig`]'s, shared fields [`DiffusionTrainingConfig`]'s.

    > Parameters that control the loss

        kto_beta (`float`, defaults to 2000.0): β of the Diffusion-KTO loss (TRL's KTOConfig calls it beta); it scales per-sample MSE gaps, so diffusion models need values in the thousands, as Diffusion-DPO does.
        desirable_weight (`float`, defaults to 1.0): λ_D, the weight of desirable (aligned) clips' loss (TRL's name).
        undesirable_weight (`float`, defaults to 1.0): λ_U, the weight of undesirable (not aligned) clips' loss (TRL's name); KTO's paper keeps λ_D·n_D / (λ_U·n_U) between 1 and 4/3.
        kto_reward_threshold (`float`, defaults to 0.5): A reward-model row is desirable when its score is at least this (human rows use their label).
        beta (`float`, defaults to 0.0): Weight of the pretrain denoising loss added to KTO (BATON's β term; 0 leaves pure KTO).
    """

    kto_beta: float = field(
        default=2000.0,
        metadata={
            "help": "β of the Diffusion-KTO loss (TRL's KTOConfig calls it beta); it scales per-sample MSE "
            "gaps, so diffusion models need values in the thousands, as Diffusion-DPO does."
        },
    )
    desirable_weight: float = field(
        default=1.0,
        metadata={"help": "λ_D, the weight of desirable (aligned) clips' loss (TRL's name)."},
    )
    undesirable_weight: float = field(
        default=1.0,
        metadata={
            "help": "λ_U, the weight of undesirable (not aligned) clips' loss (TRL's name); KTO's paper keeps "
            "λ_D·n_D / (λ_U·n_U) between 1 and 4/3."
        },
    )
    kto_reward_threshold: float = field(
        default=0.5,
        metadata={
            "help": "A reward-model row is desirable when its score is at least this (human rows use their label)."
        },
    )
    beta: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the pretrain denoising loss added to KTO (BATON's β term; 0 leaves pure KTO)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        for name in ("kto_beta", "desirable_weight", "undesirable_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.kto_reward_threshold < 1.0:
            raise ValueError(f"kto_reward_threshold must lie in (0, 1), got {self.kto_reward_threshold}")
        if self.reward_transform != "identity":
            raise ValueError(
                "reward_transform is Eq. 7's; KTO thresholds the reward instead (leave it 'identity')"
            )


@dataclass
class DiffusionGRPOConfig(DiffusionTrainingConfig):
    r"""Arguments of [`DiffusionGRPOTrainer`] (online GRPO on the family's own stochastic sampler);
    shared fields are [`DiffusionTrainingConfig`]'s, and TRL's `GRPOConfig` names are kept where
    they mean the same thing.

    > Parameters that control sampling

        num_generations (`int`, defaults to 4): Clips sampled per prompt and update: the group whose rewards are normalised together (TRL's name; at least 2).
        num_inference_steps (`int`, defaults to 50): Sampler steps per clip.
        guidance_scale (`float`, defaults to 3.0): Classifier-free guidance while sampling (1 switches it off); the guided sampler is the policy.
        eta (`float`, defaults to 1.0): DDIM's η for DDPM families (> 0 makes every step a Gaussian; DDPO uses 1.0). Rectified-flow families sample with their scheduler's stochastic mode and ignore it.

    > Parameters that control the update

        timestep_fraction (`float`, defaults to 1.0): Fraction of each clip's stochastic steps trained per update, drawn anew every update (Flow-GRPO's speed-up); 1 trains on every step.
        epsilon (`float`, defaults to 0.2): Lower clip range of the importance ratio (TRL's name).
        epsilon_high (`float` or `None`, defaults to None): Upper clip range; None uses epsilon (TRL's name).
        beta (`float`, defaults to 0.04): Weight of the KL penalty to the frozen reference model, the mean of the squared gap between the two models' step means over 2σ² (TRL's name; 0 needs no reference).
        num_iterations (`int`, defaults to 1): Updates per batch of rollouts (TRL's μ); above 1 the clipped ratio bounds how far the later updates move. Needs gradient_accumulation_steps 1 and save_steps a multiple of it.
        scale_rewards (`str`, defaults to "group"): Advantage scaling (TRL's name): "group" divides by the prompt group's standard deviation, "batch" by the batch's, "none" only subtracts the group mean.
        reward_weights (`list[float]` or `None`, defaults to None): Weight of each reward function in the summed reward (TRL's name); None weighs every one 1.

    > Changed defaults (from `DiffusionTrainingConfig`)

        per_device_train_batch_size (`int`, defaults to 2): Prompts per step and device; each gets num_generations clips.
        condition_dropout (`float`, defaults to 0.0): Unused by GRPO (the policy is trained on the conditioning it sampled with).
    """

    num_generations: int = field(
        default=4,
        metadata={
            "help": "Clips sampled per prompt and update: the group whose rewards are normalised together "
            "(TRL's name; at least 2)."
        },
    )
    num_inference_steps: int = field(default=50, metadata={"help": "Sampler steps per clip."})
    guidance_scale: float = field(
        default=3.0,
        metadata={
            "help": "Classifier-free guidance while sampling (1 switches it off); the guided sampler is the policy."
        },
    )
    eta: float = field(
        default=1.0,
        metadata={
            "help": "DDIM's η for DDPM families (> 0 makes every step a Gaussian; DDPO uses 1.0). Rectified-flow "
            "families sample with their scheduler's stochastic mode and ignore it."
        },
    )
    timestep_fraction: float = field(
        default=1.0,
        metadata={
            "help": "Fraction of each clip's stochastic steps trained per update, drawn anew every update "
            "(Flow-GRPO's speed-up); 1 trains on every step."
        },
    )
    epsilon: float = field(
        default=0.2, metadata={"help": "Lower clip range of the importance ratio (TRL's name)."}
    )
    epsilon_high: float | None = field(
        default=None, metadata={"help": "Upper clip range; None uses epsilon (TRL's name)."}
    )
    beta: float = field(
        default=0.04,
        metadata={
            "help": "Weight of the KL penalty to the frozen reference model, the mean of the squared gap between "
            "the two models' step means over 2σ² (TRL's name; 0 needs no reference)."
        },
    )
    num_iterations: int = field(
        default=1,
        metadata={
            "help": "Updates per batch of rollouts (TRL's μ); above 1 the clipped ratio bounds how far the later "
            "updates move. Needs gradient_accumulation_steps 1 and save_steps a multiple of it."
        },
    )
    scale_rewards: str = field(
        default="group",
        metadata={
            "help": "Advantage scaling (TRL's name): \"group\" divides by the prompt group's standard deviation, "
            '"batch" by the batch\'s, "none" only subtracts the group mean.',
            "choices": ["group", "batch", "none"],
        },
    )
    reward_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "Weight of each reward function in the summed reward (TRL's name); None weighs every one 1."
        },
    )
    per_device_train_batch_size: int = field(
        default=2,
        metadata={"help": "Prompts per step and device; each gets num_generations clips."},
    )
    condition_dropout: float = field(
        default=0.0,
        metadata={"help": "Unused by GRPO (the policy is trained on the conditioning it sampled with)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.num_generations < 2:
            raise ValueError(
                f"num_generations must be at least 2 (a group to normalise), got {self.num_generations}"
            )
        if self.num_inference_steps < 1 or self.num_iterations < 1:
            raise ValueError("num_inference_steps and num_iterations must be at least 1")
        if not 0.0 < self.timestep_fraction <= 1.0:
            raise ValueError(f"timestep_fraction must lie in (0, 1], got {self.timestep_fraction}")
        if self.eta <= 0:
            raise ValueError(f"eta must be > 0 (eta = 0 makes DDIM deterministic: no policy), got {self.eta}")
        if self.epsilon <= 0 or (self.epsilon_high is not None and self.epsilon_high <= 0):
            raise ValueError("epsilon and epsilon_high must be > 0")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {self.scale_rewards!r}")
        if self.num_iterations > 1:
            if self.gradient_accumulation_steps != 1:
                raise ValueError(
                    "num_iterations > 1 reuses one batch of rollouts per step: set gradient_accumulation_steps 1"
                )
            if self.save_strategy == "steps" and self.save_steps % self.num_iterations:
                raise ValueError(
                    f"save_steps ({self.save_steps}) must be a multiple of num_iterations ({self.num_iterations}): "
                    "a checkpoint between a batch's updates could not resume its rollouts"
                )

    @property
    def clip_range(self) -> tuple[float, float]:
        """(ε_low, ε_high) of the ratio clip."""
        return self.epsilon, self.epsilon if self.epsilon_high is None else self.epsilon_high
