"""DiffusionDPOTrainer: Diffusion-DPO (Wallace et al.; Tango 2's route) on TANGO's UNet.

Chosen and rejected clips of a caption share the caption, the noise and the timestep; the loss is
``-logsigmoid(-β/2 · (Δθ − Δref))`` with Δ = MSE(chosen) − MSE(rejected) under the trained model
(θ) and a frozen reference (a copy of the UNet, or the same UNet with its LoRA adapters disabled).
Data, caching, checkpoints and saving are :class:`~baton_tta.trainer.base.DiffusionTrainer`'s.
"""

from __future__ import annotations

import copy

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import TrainerCallback

from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.config import DiffusionDPOConfig
from baton_tta.trainer.data import DiffusionCollator
from baton_tta.trainer.loss import diffusion_dpo_loss

PAIR_COLUMNS = ("chosen", "rejected")


class DiffusionDPOTrainer(DiffusionTrainer):
    """Fine-tune a :class:`TangoPipeline`'s UNet with Diffusion-DPO on a pairwise dataset
    (``prompt``, ``chosen``, ``rejected``; e.g. Tango 2's audio-alpaca).

    Args:
        pipeline: a TangoPipeline, or a folder / Hub id to load one from.
        args: [`DiffusionDPOConfig`].
        train_dataset: pairwise dataset, or its id / path.
        peft_config: a ``peft.LoraConfig``; the reference is then the UNet with adapters disabled.
        callbacks: extra ``TrainerCallback``s.
    """

    card_title = "Diffusion-DPO fine-tuned TANGO"
    card_summary = (
        "TANGO fine-tuned with Diffusion-DPO on chosen / rejected clip pairs (as Tango 2) with baton-tta."
    )

    def __init__(
        self,
        pipeline: TangoPipeline | str,
        args: DiffusionDPOConfig | None = None,
        train_dataset: Dataset | str | None = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        args = args or DiffusionDPOConfig(output_dir="outputs/dpo-tango")
        super().__init__(pipeline, args, train_dataset, peft_config, callbacks)
        self.reference_unet = None
        if not self.use_lora:
            self.reference_unet = copy.deepcopy(self.pipeline.unet).requires_grad_(False).eval()

    def _prepare_data(self, train_dataset, args) -> tuple[DiffusionCollator, int, int]:
        columns = {
            args.prompt_column: "prompt",
            args.chosen_column: "chosen",
            args.rejected_column: "rejected",
        }
        pairs = self._standardize(train_dataset, "pairwise", columns, "pairwise dataset")
        if len(pairs) == 0:
            raise ValueError("the pairwise dataset is empty")
        encoded = {f"preference:{c}": self._encode(pairs, c, "train_dataset", args) for c in PAIR_COLUMNS}
        cache = {k: v for k, v in encoded.items() if v is not None} if args.cache_latents else None
        self.train_rewards = [1.0] * len(pairs)
        collator = DiffusionCollator(self.encoder, pairs, self.train_rewards, None, cache, PAIR_COLUMNS)
        return collator, len(pairs), 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Diffusion-DPO; implicit accuracy and the model's MSE gap are kept for :meth:`log`."""
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
        loss, metrics = diffusion_dpo_loss(mse_w, mse_l, ref_w, ref_l, self.args.dpo_beta)
        loss = self._finish_loss(loss, {"loss_dpo": loss.detach(), **metrics})
        return (loss, {"loss": loss}) if return_outputs else loss

    def _reference_model(self, model):
        if self.reference_unet is not None:
            return self.reference_unet
        unwrapped = self.accelerator.unwrap_model(model)
        unwrapped.disable_adapters()
        return unwrapped

    def card_facts(self) -> dict:
        return {"num_rows": len(self.train_rewards), "mean_reward": 1.0}
