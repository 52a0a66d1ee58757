"""What every stage-3 configuration shares, TRL style: :class:`DiffusionTrainingConfig`, the
``TrainingArguments`` every denoiser fine-tuning run extends (data columns, clip length, caching,
LoRA, validation, the Trainer defaults a denoiser needs). Each method has its own
``<method>_config.py`` beside its ``<method>_trainer.py``. Every field is a CLI flag and a YAML key of
the training scripts (``TrlParser``); each docstring entry repeats its field's ``help`` word for word
(a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from baton_tta.data.audio import LENGTH_TOLERANCE
from baton_tta.data.settings import SettingsError, check_finite_settings
from baton_tta.extras import require
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
        logging_nan_inf_filter (`bool`, defaults to False): Off: a non-finite loss stops the run (the finite-step guard), so there is nothing to filter, and the filter's check is a host read per step.
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
    logging_nan_inf_filter: bool = field(
        default=False,
        metadata={
            "help": "Off: a non-finite loss stops the run (the finite-step guard), so there is nothing to "
            "filter, and the filter's check is a host read per step."
        },
    )
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (GPU)."})

    def __post_init__(self):
        check_finite_settings(self)  # every subclass's fields too: they are all set by now
        refuse_bf16_without_a_device(self)
        super().__post_init__()
        if "tensorboard" in (self.report_to or []):
            require("tensorboard", "report_to tensorboard")
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


def refuse_bf16_without_a_device(args: DiffusionTrainingConfig) -> None:
    """bf16 (every GPU recipe asks for it) on a machine without a bf16 device: said with both ways on,
    before transformers' own check stops the run in a traceback. Not switched to fp32 silently: the
    card would record a precision the run did not use, and a recipe's run would not be the recipe's."""
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    if args.bf16 and not args.use_cpu and not is_torch_bf16_gpu_available() and not is_torch_xla_available():
        raise SettingsError(
            "bf16 is set (the GPU recipes' precision) but this machine has no bf16 GPU: pass --bf16 false "
            "to train in fp32, or --use_cpu true to run bf16 autocast on the CPU (slow; what the suite does)"
        )
