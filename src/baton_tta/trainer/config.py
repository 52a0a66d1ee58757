"""Configuration of BATON's reward-weighted fine-tuning (and Diffusion-DPO), TRL style."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class RewardWeightedDiffusionConfig(TrainingArguments):
    r"""Arguments of [`RewardWeightedDiffusionTrainer`]. Every field is a CLI flag and a YAML key of
    ``trainers/train.py`` (TrlParser).

    > Parameters that control the loss

        beta (`float`, defaults to 0.5): weight of the pretrain denoising loss (paper Eq. 7; the paper
            uses 0.5, the official script 0.25).
        reward_transform (`str`, defaults to "identity"): f in f(r)·‖target − pred‖²; "identity" (official
            code) or "exp" (paper text).
        snr_gamma (`float` or `None`, defaults to `None`): Min-SNR-γ loss weighting (TANGO trains with 5).
        condition_dropout (`float`, defaults to 0.1): probability of zeroing a caption's embedding
            (TANGO's ``uncondition``), which keeps classifier-free guidance working.
        loss_type (`str`, defaults to "reward_weighted"): "reward_weighted" (BATON) or "dpo"
            (Diffusion-DPO on a pairwise dataset, as Tango 2).
        dpo_beta (`float`, defaults to 2000.0): β of the Diffusion-DPO loss (Tango 2 uses 2000–5000).

    > Parameters that control the data

        prompt_column / audio_column / label_column / reward_column / source_column (`str`): column names.
        human_to_reward_ratio (`float` or `None`, defaults to 1.0): human rows per reward-model row; the
            larger group is subsampled (seeded) to this ratio. `None` keeps every row.
        audio_length_s (`float`, defaults to 10.0): clip length the model is trained on (TANGO: 10 s).
        audio_length_tolerance_s (`float`, defaults to 1.0): clips whose length differs from
            ``audio_length_s`` by more than this are an error (they are padded or trimmed otherwise).
        cache_latents (`bool`, defaults to True): encode captions (T5) and clips (VAE) once, before
            training; the uncached path re-encodes every step and gives identical losses.

    > Parameters that control the model

        use_lora / lora_rank / lora_alpha / lora_target_modules: train LoRA adapters on the UNet's
            attention projections instead of the full UNet.
        merge_lora (`bool`, defaults to False): also save a pipeline with the adapters merged in.
        train_text_encoder (`bool`, defaults to False): not supported yet: TANGO and BATON keep T5 frozen.

    > Parameters that control validation

        validation_prompts (`list[str]`): captions rendered every ``validation_every_n_steps`` steps.
        validation_every_n_steps (`int`, defaults to 0): 0 disables validation.
        num_validation_clips (`int`, defaults to 1): clips per validation prompt.
        validation_inference_steps (`int`, defaults to 50): denoising steps of validation clips.
    """

    beta: float = field(
        default=0.5, metadata={"help": "Weight of the pretrain denoising loss (paper Eq. 7)."}
    )
    reward_transform: str = field(default="identity", metadata={"help": "f(r): 'identity' or 'exp'."})
    snr_gamma: float | None = field(
        default=None, metadata={"help": "Min-SNR-gamma weighting; None disables."}
    )
    condition_dropout: float = field(default=0.1, metadata={"help": "Probability of dropping the caption."})
    loss_type: str = field(default="reward_weighted", metadata={"help": "'reward_weighted' or 'dpo'."})
    dpo_beta: float = field(default=2000.0, metadata={"help": "Diffusion-DPO beta."})

    prompt_column: str = field(default="prompt", metadata={"help": "Caption column."})
    audio_column: str = field(default="audio", metadata={"help": "Audio column."})
    label_column: str = field(default="label", metadata={"help": "Binary label column (1/0/-1)."})
    reward_column: str = field(default="reward", metadata={"help": "Reward column (in [0, 1])."})
    source_column: str = field(
        default="source", metadata={"help": "'human' / 'reward_model' / 'unlabelled'."}
    )
    human_to_reward_ratio: float | None = field(default=1.0, metadata={"help": "Human rows per reward row."})
    audio_length_s: float = field(default=10.0, metadata={"help": "Training clip length in seconds."})
    audio_length_tolerance_s: float = field(default=1.0, metadata={"help": "Allowed clip-length mismatch."})
    cache_latents: bool = field(default=True, metadata={"help": "Encode captions and clips once."})

    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters on the UNet."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"],
        metadata={"help": "UNet modules with LoRA."},
    )
    merge_lora: bool = field(default=False, metadata={"help": "Also save the pipeline with LoRA merged."})
    train_text_encoder: bool = field(default=False, metadata={"help": "Train T5 too (not supported)."})

    validation_prompts: list[str] = field(default_factory=list, metadata={"help": "Validation captions."})
    validation_every_n_steps: int = field(default=0, metadata={"help": "Validate every n steps; 0 = never."})
    num_validation_clips: int = field(default=1, metadata={"help": "Clips per validation caption."})
    validation_inference_steps: int = field(default=50, metadata={"help": "Steps of validation sampling."})

    # Trainer defaults that differ for a diffusion UNet (design §6)
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate (paper: 1e-5)."})
    per_device_train_batch_size: int = field(
        default=6, metadata={"help": "Preference rows per step (paper: 6)."}
    )
    num_train_epochs: float = field(default=10.0, metadata={"help": "Epochs (paper: 10)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False."})
    logging_steps: float = field(default=10, metadata={"help": "Log every n steps."})
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (GPU)."})
    report_to: str | list[str] = field(default="none", metadata={"help": "Integrations to log to."})

    def __post_init__(self):
        super().__post_init__()
        if self.reward_transform not in ("identity", "exp"):
            raise ValueError(f"reward_transform must be 'identity' or 'exp', got {self.reward_transform!r}")
        if self.loss_type not in ("reward_weighted", "dpo"):
            raise ValueError(f"loss_type must be 'reward_weighted' or 'dpo', got {self.loss_type!r}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.human_to_reward_ratio is not None and self.human_to_reward_ratio <= 0:
            raise ValueError(f"human_to_reward_ratio must be > 0 or None, got {self.human_to_reward_ratio}")
        if self.train_text_encoder:
            raise ValueError("train_text_encoder=True is not supported: TANGO and BATON keep Flan-T5 frozen")
        if self.remove_unused_columns:
            raise ValueError("remove_unused_columns must be False: the trainer reads its own columns")
        self.label_names = []  # the UNet has no labels; keeps Trainer from guessing "class_labels"
