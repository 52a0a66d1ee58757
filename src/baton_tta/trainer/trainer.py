"""RewardWeightedDiffusionTrainer: BATON stage 3 (paper §3.3, Eq. 7) on TANGO's UNet, as a
``transformers.Trainer`` (TRL's base trainer cannot hold a diffusers model, design §6).

The Trainer sees the UNet as its model; the text encoder and VAE are frozen feature extractors (run
once with ``cache_latents``). Checkpoints hold the trainable weights (full UNet or LoRA), optimizer,
scheduler, RNG and data position, so a resumed run continues exactly. ``save_model`` writes a
TangoPipeline folder that loads with ``DiffusionPipeline.from_pretrained(dir, trust_remote_code=True)``
(plus ``pytorch_lora_weights.safetensors`` with LoRA) and a model card.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from diffusers import DDPMScheduler, UNet2DConditionModel
from huggingface_hub import create_repo, upload_folder
from safetensors.torch import load_file, save_file
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import set_seed

from baton_tta.data.audio import decode_audio
from baton_tta.data.loading import load_preference_dataset
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.trainer.callbacks import ValidationCallback, use_diffusers_tensorboard
from baton_tta.trainer.config import RewardWeightedDiffusionConfig
from baton_tta.trainer.data import (
    DiffusionCollator,
    FeatureEncoder,
    PairedIndices,
    check_audio_lengths,
    encode_all,
    select_preference_rows,
)
from baton_tta.trainer.loss import (
    denoising_target,
    diffusion_dpo_loss,
    min_snr_weights,
    per_sample_mse,
    reward_weighted_loss,
)

logger = logging.getLogger(__name__)

TRAINABLE_WEIGHTS = "model.safetensors"


class RewardWeightedDiffusionTrainer(Trainer):
    """Fine-tune a :class:`TangoPipeline`'s UNet with BATON's reward-weighted denoising loss.

    Args:
        pipeline: a TangoPipeline, or a folder / Hub id to load one from.
        args: [`RewardWeightedDiffusionConfig`].
        train_dataset: binary preference dataset (or pairwise for ``loss_type="dpo"``), or its id/path.
        pretrain_dataset: ``prompt``/``audio`` rows for the β term of Eq. 7 (AudioCaps-like), or id/path.
        reward_model: scores rows without a reward (unlabelled clips) before training and validation clips
            during it; a ``BatonRewardModel``, its id/path, or any object with
            ``score(prompts, audios, sampling_rate) -> list[float]``.
        peft_config: a ``peft.LoraConfig`` (overrides the ``use_lora``/``lora_*`` fields).
    """

    def __init__(
        self,
        pipeline: TangoPipeline | str,
        args: RewardWeightedDiffusionConfig | None = None,
        train_dataset: Dataset | str | None = None,
        pretrain_dataset: Dataset | str | None = None,
        reward_model: Any = None,
        peft_config: Any = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        args = args or RewardWeightedDiffusionConfig(output_dir="outputs/baton-tango")
        if train_dataset is None:
            raise ValueError("train_dataset is required")
        set_seed(args.seed)
        self.pipeline = TangoPipeline.from_pretrained(pipeline) if isinstance(pipeline, str) else pipeline
        self.pipeline.set_progress_bar_config(disable=True)
        self.base_model_id = (
            pipeline if isinstance(pipeline, str) else getattr(self.pipeline, "name_or_path", None)
        )
        self.dataset_ids = [d for d in (train_dataset, pretrain_dataset) if isinstance(d, str)]
        self.reward_model = _load_reward_model(reward_model)
        self.is_dpo = args.loss_type == "dpo"
        self.noise_scheduler = DDPMScheduler.from_config(self.pipeline.scheduler.config)

        for frozen in (self.pipeline.text_encoder, self.pipeline.vae, self.pipeline.vocoder):
            if frozen is not None:  # the vocoder is optional (Griffin-Lim)
                frozen.requires_grad_(False).eval()
        self.pipeline.to(args.device)
        unet = self.pipeline.unet
        self.use_lora = bool(args.use_lora or peft_config is not None)
        if self.use_lora:
            from peft import LoraConfig

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
        if args.gradient_checkpointing:  # diffusers' switch, not transformers' (which the UNet lacks)
            unet.enable_gradient_checkpointing()
            args.gradient_checkpointing = False
        unet.train()
        self.reference_unet = None
        if self.is_dpo and not self.use_lora:
            self.reference_unet = copy.deepcopy(unet).requires_grad_(False).eval()

        preference, rewards, pretrain = self._prepare_data(train_dataset, pretrain_dataset, args)
        self.train_rewards = rewards
        encoder = FeatureEncoder(self.pipeline, args.audio_length_s, args.prompt_column, args.audio_column)
        audio_columns = ("chosen", "rejected") if self.is_dpo else (args.audio_column,)
        cache = None
        if args.cache_latents:
            batch = max(1, args.per_device_train_batch_size)
            cache = {
                f"preference:{c}": encode_all(encoder, preference, batch, f"caching {c}", c)
                for c in audio_columns
            }
            if pretrain is not None:
                cache["pretrain:audio"] = encode_all(encoder, pretrain, batch, "caching pretrain", "audio")
        collator = DiffusionCollator(encoder, preference, rewards, pretrain, cache, audio_columns)
        indices = PairedIndices(len(preference), len(pretrain) if pretrain is not None else 0, args.seed)

        super().__init__(
            model=unet, args=args, train_dataset=indices, data_collator=collator, callbacks=callbacks
        )
        self.loss_is_scaled_for_ga = False  # compute_loss returns a per-step mean; Trainer divides by GA
        self.can_return_loss = True
        self._metrics: dict[str, list[float]] = defaultdict(list)
        use_diffusers_tensorboard(self)
        if args.validation_every_n_steps and args.validation_prompts:
            self.add_callback(ValidationCallback(self))

    # ------------------------------------------------------------------ data
    def _prepare_data(
        self, train_dataset, pretrain_dataset, args
    ) -> tuple[Dataset, list[float], Dataset | None]:
        schema = "pairwise" if self.is_dpo else "binary"
        if isinstance(train_dataset, str):
            train_dataset = load_preference_dataset(train_dataset, schema=schema)
        if isinstance(pretrain_dataset, str):
            pretrain_dataset = load_preference_dataset(pretrain_dataset, schema="pretrain")
        if pretrain_dataset is not None and len(pretrain_dataset) == 0:
            raise ValueError("the pretrain dataset is empty")
        if self.is_dpo:
            if len(train_dataset) == 0:
                raise ValueError("the pairwise dataset is empty")
            preference, rewards = train_dataset, [1.0] * len(train_dataset)
        else:
            preference, rewards = select_preference_rows(
                train_dataset, args, self.reward_model is not None, args.seed
            )
            rewards = self._score_missing(preference, rewards, args)
        columns = ["chosen", "rejected"] if self.is_dpo else [args.audio_column]
        check_audio_lengths(
            preference, columns, args.audio_length_s, args.audio_length_tolerance_s, "train_dataset"
        )
        if pretrain_dataset is not None:
            check_audio_lengths(
                pretrain_dataset,
                ["audio"],
                args.audio_length_s,
                args.audio_length_tolerance_s,
                "pretrain_dataset",
            )
        return preference, rewards, pretrain_dataset

    def _score_missing(self, dataset: Dataset, rewards: list[float], args) -> list[float]:
        missing = [i for i, r in enumerate(rewards) if math.isnan(r)]
        if not missing:
            return rewards
        rows = dataset.select(missing)
        audios = [decode_audio(a, 16000) for a in rows[args.audio_column]]
        scores = self.reward_model.score(rows[args.prompt_column], audios, sampling_rate=16000)
        logger.info(
            "scored %d unlabelled row(s) with the reward model (mean %.3f)",
            len(missing),
            sum(scores) / len(scores),
        )
        rewards = list(rewards)
        for i, score in zip(missing, scores):
            rewards[i] = float(score)
        return rewards

    # ------------------------------------------------------------------ loss
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
        weights = min_snr_weights(self.noise_scheduler, timesteps, self.args.snr_gamma).to(prediction.device)
        return per_sample_mse(prediction, target), weights

    def _denoising_terms(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        latents = self._sample_latents(batch)
        text = self._condition(batch)
        noise = torch.randn_like(latents)
        timesteps = self._random_timesteps(latents.shape[0], latents.device)
        return self._noised_mse(model, latents, text, batch["mask"], noise, timesteps)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Paper Eq. 7 (or Diffusion-DPO); per-term values are kept for :meth:`log`."""
        if self.is_dpo:
            loss, metrics = self._dpo_loss(model, inputs)
        else:
            pref_mse, pref_w = self._denoising_terms(model, inputs[self.args.audio_column])
            pre_mse = pre_w = None
            if "pretrain" in inputs and self.args.beta > 0:
                pre_mse, pre_w = self._denoising_terms(model, inputs["pretrain"])
            loss, metrics = reward_weighted_loss(
                pref_mse,
                inputs["rewards"],
                pref_w,
                pre_mse,
                pre_w,
                self.args.beta,
                self.args.reward_transform,
            )
            metrics["mean_reward"] = inputs["rewards"].mean()
        for key, value in metrics.items():
            self._metrics[key].append(float(value))
        return (loss, {"loss": loss}) if return_outputs else loss

    def _dpo_loss(self, model, inputs) -> tuple[torch.Tensor, dict]:
        """Chosen and rejected share caption, noise and timestep (Diffusion-DPO)."""
        chosen, rejected = inputs["chosen"], inputs["rejected"]
        latents_w, latents_l = self._sample_latents(chosen), self._sample_latents(rejected)
        text, mask = self._condition(chosen), chosen["mask"]
        noise = torch.randn_like(latents_w)
        timesteps = self._random_timesteps(latents_w.shape[0], latents_w.device)
        mse_w, _ = self._noised_mse(model, latents_w, text, mask, noise, timesteps)
        mse_l, _ = self._noised_mse(model, latents_l, text, mask, noise, timesteps)
        with torch.no_grad():
            reference = self._reference_model(model)
            ref_w, _ = self._noised_mse(reference, latents_w, text, mask, noise, timesteps)
            ref_l, _ = self._noised_mse(reference, latents_l, text, mask, noise, timesteps)
            if self.use_lora:
                self.accelerator.unwrap_model(model).enable_adapters()
        return diffusion_dpo_loss(mse_w, mse_l, ref_w, ref_l, self.args.dpo_beta)

    def _reference_model(self, model):
        if self.reference_unet is not None:
            return self.reference_unet
        unwrapped = self.accelerator.unwrap_model(model)
        unwrapped.disable_adapters()
        return unwrapped

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the averages of the per-step loss terms collected since the last log (TRL style)."""
        if self._metrics and "loss" in logs:
            logs.update({key: sum(values) / len(values) for key, values in self._metrics.items()})
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
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

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

    def save_pipeline(self, output_dir: str) -> Path:
        """A TangoPipeline folder (and LoRA weights with LoRA) plus README.md and training curves."""
        from baton_tta.hub.cards import write_training_card

        output_dir = Path(output_dir)
        unet = self.accelerator.unwrap_model(self.model)
        pipeline_unet = unet
        if self.use_lora:
            from peft.utils import get_peft_model_state_dict

            # the adapter metadata carries lora_alpha: without it a loader assumes alpha = rank
            metadata = unet.peft_config["default"].to_dict()
            TangoPipeline.save_lora_weights(
                output_dir,
                unet_lora_layers=get_peft_model_state_dict(unet),
                unet_lora_adapter_metadata=metadata,
            )
            pipeline_unet = _base_unet(unet)
        saved = TangoPipeline(
            **{**self.pipeline.components, "unet": pipeline_unet}, **_mel_kwargs(self.pipeline)
        )
        saved.save_pretrained(output_dir)
        if self.use_lora and self.args.merge_lora:
            merged = TangoPipeline.from_pretrained(output_dir)
            merged.load_lora_weights(output_dir)
            merged.fuse_lora()
            merged.unload_lora_weights()
            merged.save_pretrained(output_dir)
        write_training_card(self, output_dir)
        return output_dir

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        **kwargs,
    ) -> str:
        """Save the pipeline, LoRA weights, card and curves, and upload them in one commit."""
        output_dir = self.args.output_dir
        self.save_pipeline(output_dir)
        repo_id = self.args.hub_model_id or Path(output_dir).absolute().name
        token = token or self.args.hub_token
        repo_id = create_repo(repo_id, exist_ok=True, private=self.args.hub_private_repo, token=token).repo_id
        info = upload_folder(
            repo_id=repo_id,
            folder_path=output_dir,
            commit_message=commit_message or "Upload",
            token=token,
            revision=revision,
            ignore_patterns=["checkpoint-*", "checkpoint-*/**", "runs/**", "*.bin"],
        )
        return info


def _base_unet(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """The UNet without its LoRA layers (base weights are frozen, so unchanged by training)."""
    base = {k.replace(".base_layer", ""): v for k, v in unet.state_dict().items() if "lora_" not in k}
    clean = UNet2DConditionModel.from_config(unet.config)
    clean.load_state_dict(base)
    return clean.to(unet.device)


def _mel_kwargs(pipeline: TangoPipeline) -> dict[str, Any]:
    """The pipeline's own settings (mel front end, Griffin-Lim): its config less the components."""
    return {
        k: v for k, v in pipeline.config.items() if not k.startswith("_") and k not in pipeline.components
    }


def _load_reward_model(reward_model: Any) -> Any:
    if reward_model is None or hasattr(reward_model, "score"):
        return reward_model
    if isinstance(reward_model, str):
        from baton_tta.reward import BatonRewardModel

        return BatonRewardModel.from_pretrained(reward_model)
    raise TypeError(
        f"reward_model must have a score(prompts, audios, sampling_rate) method, got {type(reward_model).__name__}"
    )
