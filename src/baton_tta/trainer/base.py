"""DiffusionTrainer: what every UNet fine-tuning trainer of stage 3 shares, as a ``transformers.Trainer``.

TRL's base trainer cannot hold a diffusers model (docs/architecture.md, "Why transformers.Trainer"),
so this subclasses ``Trainer`` directly, as TRL's trainers do, and overrides only what differs: the
model is the pipeline's UNet; the text encoder, VAE and vocoder are frozen feature extractors run
once (``cache_latents``); checkpoints hold the trainable weights (full UNet or LoRA), optimizer,
scheduler, RNG and data position, so a resumed run continues exactly; ``save_model`` writes a
TangoPipeline folder (loadable with ``DiffusionPipeline.from_pretrained(dir, trust_remote_code=True)``)
with its card. A subclass defines ``_prepare_data(train_dataset, args) -> (collator, rows, pretrain
rows)`` and ``compute_loss``.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from diffusers import DDPMScheduler, UNet2DConditionModel
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import set_seed

from baton_tta.data.loading import load_preference_dataset, standardize
from baton_tta.hub.cards import CURVES_FILE, pipeline_card, plot_training_curves
from baton_tta.hub.push import push_folder
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.trainer.callbacks import ValidationCallback, use_diffusers_tensorboard
from baton_tta.trainer.config import DiffusionTrainingConfig
from baton_tta.trainer.data import EncodedRow, FeatureEncoder, PairedIndices, scan_clips
from baton_tta.trainer.loss import denoising_target, min_snr_weights, per_sample_mse
from baton_tta.trainer.safety import (
    FiniteGradientsCallback,
    check_finite,
    defining_settings,
    last_complete_checkpoint,
    mark_complete,
    prepare_output_dir,
)

logger = logging.getLogger(__name__)

TRAINABLE_WEIGHTS = "model.safetensors"
#: What goes to the Hub from an output folder, and nothing else: the pipeline (model_index.json, its
#: code, one folder per component), the card and curves, LoRA weights. No checkpoints, no pickles.
HUB_FILES = [
    "model_index.json",
    "pipeline_tango.py",
    "README.md",
    "training_curves.png",
    "pytorch_lora_weights.safetensors",
    *(f"{component}/*" for component in ("unet", "vae", "vocoder", "text_encoder", "tokenizer", "scheduler")),
]


class DiffusionTrainer(Trainer):
    """Fine-tune a :class:`TangoPipeline`'s UNet; subclasses define the data and the loss.

    Args:
        pipeline: a TangoPipeline, or a folder / Hub id to load one from.
        args: the subclass's config (a [`DiffusionTrainingConfig`]).
        train_dataset: the preference data, or its id / path.
        peft_config: a ``peft.LoraConfig`` (overrides the ``use_lora``/``lora_*`` fields).
        callbacks: extra ``TrainerCallback``s.
    """

    #: Card title and one-paragraph summary; subclasses name their method.
    card_title = "Fine-tuned TANGO"
    card_summary = "TANGO's UNet fine-tuned with baton-tta."

    def __init__(
        self,
        pipeline: TangoPipeline | str,
        args: DiffusionTrainingConfig,
        train_dataset: Dataset | str | None = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        if train_dataset is None:
            raise ValueError("train_dataset is required")
        set_seed(args.seed)
        self.pipeline = TangoPipeline.from_pretrained(pipeline) if isinstance(pipeline, str) else pipeline
        self.pipeline.set_progress_bar_config(disable=True)
        self.base_model_id = (
            pipeline if isinstance(pipeline, str) else getattr(self.pipeline, "name_or_path", None)
        )
        self.data_sources: list[str] = []
        self.noise_scheduler = DDPMScheduler.from_config(self.pipeline.scheduler.config)
        for frozen in (self.pipeline.text_encoder, self.pipeline.vae, self.pipeline.vocoder):
            frozen.requires_grad_(False).eval()
        self.pipeline.to(args.device)
        unet = self.pipeline.unet
        self.use_lora = bool(args.use_lora or peft_config is not None)
        if self.use_lora:
            unet.requires_grad_(False)
            unet.add_adapter(
                peft_config
                or LoraConfig(
                    r=args.lora_rank,
                    lora_alpha=args.lora_alpha,
                    init_lora_weights="gaussian",
                    target_modules=args.lora_target_modules,
                )
            )
        self.unet_gradient_checkpointing = bool(args.gradient_checkpointing)
        if args.gradient_checkpointing:  # diffusers' switch, not transformers' (which the UNet lacks)
            unet.enable_gradient_checkpointing()
            args.gradient_checkpointing = False
        unet.train()
        self.encoder = FeatureEncoder(self.pipeline, args.audio_length_s, "prompt")
        collator, num_rows, num_pretrain = self._prepare_data(train_dataset, args)
        indices = PairedIndices(num_rows, num_pretrain, args.seed)
        super().__init__(
            model=unet, args=args, train_dataset=indices, data_collator=collator, callbacks=callbacks
        )
        self.loss_is_scaled_for_ga = False  # compute_loss returns a per-step mean; Trainer divides by GA
        self.can_return_loss = True
        self._metrics: dict[str, list[float]] = defaultdict(list)
        use_diffusers_tensorboard(self)
        self.add_callback(FiniteGradientsCallback())
        if args.validation_every_n_steps and args.validation_prompts:
            self.add_callback(ValidationCallback(self))

    # ------------------------------------------------------------------ data
    def _standardize(
        self, data: Dataset | str, schema: str, column_map: dict[str, str], what: str
    ) -> Dataset:
        """Load (an id or path) or take (a ``Dataset``) the data, rename its columns to the schema's
        and validate every row the same way, whatever its origin; audio is checked by :meth:`_encode`."""
        if isinstance(data, str):
            self.data_sources.append(data)
            logger.info("%s: %s", what, data)
            return load_preference_dataset(data, schema=schema, column_map=column_map, check_audio=False)
        self.data_sources.append(f"in-memory {what} ({len(data)} rows, fingerprint {data._fingerprint})")
        logger.info("%s: an in-memory dataset of %d rows", what, len(data))
        return standardize(data, schema, f"{what} (in memory)", column_map, check_audio=False)

    def _encode(
        self, dataset: Dataset, column: str, what: str, args: DiffusionTrainingConfig
    ) -> list[EncodedRow] | None:
        """Decode every clip of ``column`` once: check it, measure it and (with ``cache_latents``)
        encode it; returns the cached features, or None when training encodes every step."""
        batch = max(1, args.per_device_train_batch_size)
        tolerance = args.audio_length_tolerance_s
        return scan_clips(dataset, column, self.encoder, tolerance, what, batch, encode=args.cache_latents)

    # ------------------------------------------------------------------ loss pieces
    def _sample_latents(self, batch: dict) -> torch.Tensor:
        """A fresh draw from each clip's VAE posterior, scaled as TANGO does."""
        latents = batch["latent_mean"] + batch["latent_std"] * torch.randn_like(batch["latent_std"])
        return latents * self.pipeline.vae.config.scaling_factor

    def _condition(self, batch: dict) -> torch.Tensor:
        """Caption embeddings, zeroed with probability ``condition_dropout`` (TANGO's uncondition)."""
        text = batch["text"]
        if self.args.condition_dropout > 0 and self.model.training:
            keep = (torch.rand(text.shape[0], device=text.device) >= self.args.condition_dropout).to(
                text.dtype
            )
            text = text * keep[:, None, None]
        return text

    def _random_timesteps(self, size: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (size,), device=device)

    def _noised_mse(self, model, latents, text, mask, noise, timesteps) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise the latents at the timesteps, predict, and return per-sample MSE and Min-SNR weights."""
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        target = denoising_target(self.noise_scheduler, latents, noise, timesteps)
        prediction = model(noisy, timesteps, encoder_hidden_states=text, encoder_attention_mask=mask).sample
        weights = min_snr_weights(
            self.noise_scheduler, timesteps, self.args.snr_gamma, self.args.snr_weighting
        ).to(prediction.device)
        return per_sample_mse(prediction, target), weights

    def _denoising_terms(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        latents = self._sample_latents(batch)
        noise = torch.randn_like(latents)
        timesteps = self._random_timesteps(latents.shape[0], latents.device)
        return self._noised_mse(model, latents, self._condition(batch), batch["mask"], noise, timesteps)

    def _finish_loss(self, loss: torch.Tensor, metrics: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stop at a non-finite loss (naming the step and the term), then keep the terms for :meth:`log`."""
        check_finite(self.state.global_step + 1, loss, metrics)
        for key, value in metrics.items():
            self._metrics[key].append(float(value))
        return loss

    # ------------------------------------------------------------------ running
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any):
        """Train after checking the output folder: a folder holding another run's results is refused
        (``overwrite_output_dir`` clears it); ``resume_from_checkpoint="last"`` (or True) continues the
        newest *complete* checkpoint, and only with the same defining settings."""
        if resume_from_checkpoint in (True, "last", "true", "True"):
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            logger.info(
                "resuming from %s", resume_from_checkpoint or "scratch (no complete checkpoint found)"
            )
            resuming = True
        else:
            resuming = bool(resume_from_checkpoint)
        if self.args.should_save:
            run = defining_settings(self.args, self.data_sources, _hub_or_none(self.base_model_id))
            prepare_output_dir(self.args.output_dir, run, resuming, self.args.overwrite_output_dir)
        return super().train(resume_from_checkpoint=resume_from_checkpoint or None, **kwargs)

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint, then a marker written last: a kill mid-save leaves no marker, and
        resuming skips that checkpoint."""
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            mark_complete(folder, self.state.global_step)

    def init_hf_repo(self, token: str | None = None) -> None:
        """No repo is created during training: :meth:`push_to_hub` creates it and uploads once, at the end."""

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """No pushes on save (``hub_strategy``): the Hub gets one commit, the finished pipeline."""

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the per-step loss terms collected since the last log, averaged over steps and over
        processes (``gather_for_metrics``), so multi-GPU logs are not rank 0's alone (TRL style)."""
        if self._metrics and "loss" in logs:
            for key, values in sorted(self._metrics.items()):
                local = torch.tensor(sum(values) / len(values), device=self.accelerator.device)
                logs[key] = self.accelerator.gather_for_metrics(local.reshape(1)).mean().item()
            self._metrics.clear()
        super().log(logs, start_time)

    # ------------------------------------------------------------------ saving
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        model = self.accelerator.unwrap_model(self.model)
        names = {name for name, p in model.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k in names}

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoint weights: only what trains (the full UNet, or just the LoRA matrices)."""
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        save_file(self.trainable_state_dict(), os.path.join(output_dir, TRAINABLE_WEIGHTS))
        torch.save(_without_secrets(self.args), os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        model = self.accelerator.unwrap_model(model or self.model)
        state = load_file(os.path.join(resume_from_checkpoint, TRAINABLE_WEIGHTS))
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        result = model.load_state_dict(state, strict=False)
        missing = sorted(set(result.missing_keys) & trainable)
        if result.unexpected_keys or missing:
            raise ValueError(
                f"{resume_from_checkpoint}: checkpoint does not match the model "
                f"(unexpected {result.unexpected_keys[:5]}, missing {missing[:5]})"
            )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Checkpoints keep the Trainer's layout; the final save writes the pipeline and its card."""
        if _internal_call:
            super().save_model(output_dir, _internal_call=True)
            return
        if self.args.should_save:
            self.save_pipeline(output_dir or self.args.output_dir)

    def save_pipeline(self, output_dir: str | os.PathLike) -> Path:
        """A TangoPipeline folder (and LoRA weights with LoRA) plus README.md and training curves."""
        output_dir = Path(output_dir)
        unet = self.accelerator.unwrap_model(self.model)
        pipeline_unet = unet
        if self.use_lora:
            # the adapter metadata carries lora_alpha: without it a loader assumes alpha = rank
            TangoPipeline.save_lora_weights(
                output_dir,
                unet_lora_layers=get_peft_model_state_dict(unet),
                unet_lora_adapter_metadata=unet.peft_config["default"].to_dict(),
            )
            pipeline_unet = _base_unet(unet)
        saved = TangoPipeline(
            **{**self.pipeline.components, "unet": pipeline_unet}, **_settings(self.pipeline)
        )
        saved.save_pretrained(output_dir)
        if self.use_lora and self.args.merge_lora:
            merged = TangoPipeline.from_pretrained(output_dir)
            merged.load_lora_weights(output_dir)
            merged.fuse_lora()
            merged.unload_lora_weights()
            merged.save_pretrained(output_dir)
        self.create_model_card(output_dir)
        print(f"pipeline, model card and training curves written to {output_dir.resolve()}")
        return output_dir

    def card_facts(self) -> dict[str, Any]:
        """What the card says about the data (rows, mean reward); subclasses fill it in."""
        return {"num_rows": len(self.train_dataset), "mean_reward": float("nan")}

    def create_model_card(self, output_dir: str | os.PathLike, **_: Any) -> None:
        """README.md from the card template: base model, data sources, every hyperparameter, curves."""
        output_dir = Path(output_dir)
        curves = plot_training_curves(self.state.log_history, output_dir / CURVES_FILE)
        losses = [entry["loss"] for entry in self.state.log_history if "loss" in entry]
        settings = {name: getattr(self.args, name) for name in self.card_hyperparameters()}
        settings["gradient_checkpointing"] = self.unet_gradient_checkpointing  # the Trainer's flag is off
        settings["mixed_precision (as run)"] = self.accelerator.mixed_precision
        card = pipeline_card(
            title=self.card_title,
            summary=self.card_summary,
            base_model=self.base_model_id if isinstance(self.base_model_id, str) else None,
            datasets=self.data_sources,
            hyperparameters=settings,
            steps=self.state.global_step,
            final_loss=losses[-1] if losses else None,
            use_lora=self.use_lora,
            curves_file=CURVES_FILE if curves else None,
            **self.card_facts(),
        )
        card.save(output_dir / "README.md")

    def card_hyperparameters(self) -> list[str]:
        """Config fields the card lists: every field this project defines, plus the optimiser's."""
        own = [f for f in type(self.args).__dataclass_fields__ if f not in _TRAINING_ARGUMENT_FIELDS]
        shared = [
            "learning_rate",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "num_train_epochs",
            "max_steps",
            "optim",
            "weight_decay",
            "adam_beta1",
            "adam_beta2",
            "lr_scheduler_type",
            "warmup_steps",
            "max_grad_norm",
            "seed",
            "gradient_checkpointing",
        ]
        return [name for name in own + shared if name not in ("validation_prompts",)]

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Save the pipeline, LoRA weights, card and curves, and upload them in one commit to
        ``hub_model_id``. Takes ``private`` and ``create_pr`` too; uploads always block (``blocking``
        is accepted for the Trainer's signature)."""
        unknown = set(kwargs) - {"private", "create_pr"}
        if unknown:
            raise TypeError(f"push_to_hub() got unexpected keyword arguments {sorted(unknown)}")
        output_dir = self.args.output_dir
        self.save_pipeline(output_dir)
        return push_folder(
            output_dir,
            self.args.hub_model_id or Path(output_dir).absolute().name,
            commit_message=commit_message or "Upload",
            private=kwargs.get("private", self.args.hub_private_repo),
            token=token or self.args.hub_token,
            revision=revision,
            create_pr=kwargs.get("create_pr", False),
            allow_patterns=HUB_FILES,
        )


_TRAINING_ARGUMENT_FIELDS = set(TrainingArguments.__dataclass_fields__)


def _without_secrets(args: DiffusionTrainingConfig) -> DiffusionTrainingConfig:
    """A copy of the config without the Hub token, for files that stay on disk or travel."""
    clean = copy.copy(args)
    clean.hub_token = None
    return clean


def _hub_or_none(name: Any) -> str | None:
    return name if isinstance(name, str) else None


def _base_unet(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """The UNet without its LoRA layers (base weights are frozen, so unchanged by training)."""
    base = {k.replace(".base_layer", ""): v for k, v in unet.state_dict().items() if "lora_" not in k}
    clean = UNet2DConditionModel.from_config(unet.config)
    clean.load_state_dict(base)
    return clean.to(unet.device)


def _settings(pipeline: TangoPipeline) -> dict[str, Any]:
    """The pipeline's own settings (the mel front end): its config less the components."""
    return {
        k: v for k, v in pipeline.config.items() if not k.startswith("_") and k not in pipeline.components
    }
