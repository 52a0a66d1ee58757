"""DiffusionDPOTrainer: Diffusion-DPO (Wallace et al.; Tango 2's route) on any family's denoiser.

Chosen and rejected clips of a caption share the caption, the noise and the timestep; the loss is
``-logsigmoid(-β/2 · (Δθ − Δref))`` with Δ = MSE(chosen) − MSE(rejected) under the trained model
(θ) and a frozen reference (a copy of the denoiser, or the same denoiser with its LoRA adapters
disabled). Noise, timesteps and targets are the family's noise process.
Data, caching, checkpoints and saving are :class:`~baton_tta.trainer.base.DiffusionTrainer`'s.
"""

from __future__ import annotations

import torch
from datasets import Dataset
from diffusers import DiffusionPipeline
from peft import LoraConfig
from transformers import TrainerCallback

from baton_tta.data.duplicates import clip_key
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.data import DiffusionCollator
from baton_tta.trainer.dpo_config import DiffusionDPOConfig
from baton_tta.trainer.loss import diffusion_dpo_loss

PAIR_COLUMNS = ("chosen", "rejected")


class DiffusionDPOTrainer(DiffusionTrainer):
    """Fine-tune a pipeline's denoiser with Diffusion-DPO on a pairwise dataset (``prompt``,
    ``chosen``, ``rejected``; e.g. Tango 2's audio-alpaca).

    Args:
        pipeline: a pipeline of any supported family, or a folder / Hub id to load one from.
        args: [`DiffusionDPOConfig`].
        train_dataset: pairwise dataset, or its id / path.
        peft_config: a ``peft.LoraConfig``; the reference is then the denoiser with adapters disabled.
        callbacks: extra ``TrainerCallback``s.
    """

    card_title = "Diffusion-DPO fine-tuned {model}"
    config_class = DiffusionDPOConfig
    uses_reference = True
    card_summary = (
        "{model} fine-tuned with Diffusion-DPO on chosen / rejected clip pairs (as Tango 2) with baton-tta."
    )

    def __init__(
        self,
        pipeline: DiffusionPipeline | str,
        args: DiffusionDPOConfig | None = None,
        train_dataset: Dataset | str | None = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        args = args or self.config_class(output_dir="outputs/dpo-tango")
        super().__init__(pipeline, args, train_dataset, peft_config, callbacks)

    def _prepare_data(self, train_dataset, args) -> tuple[DiffusionCollator, int, int]:
        columns = {
            args.prompt_column: "prompt",
            args.chosen_column: "chosen",
            args.rejected_column: "rejected",
        }
        pairs = self._standardize(train_dataset, "pairwise", columns, "pairwise dataset")
        if len(pairs) == 0:
            raise ValueError("the pairwise dataset is empty")
        self._check_pairs(pairs, bool(args.rpo_alpha))
        encoded = {
            f"preference:{c}": self._encode(pairs, c, self.data_sources[0], args) for c in PAIR_COLUMNS
        }
        cache = {k: v for k, v in encoded.items() if v is not None} if args.cache_latents else None
        self.train_rewards = [1.0] * len(pairs)
        collator = DiffusionCollator(self.encoder, pairs, self.train_rewards, None, cache, PAIR_COLUMNS)
        return collator, len(pairs), 0

    def _check_pairs(self, pairs: Dataset, learns_chosen: bool) -> None:
        """Pairs that teach nothing: a chosen clip equal to its rejected one (by the loaders' one
        rule, :func:`~baton_tta.data.duplicates.clip_key`) gives the DPO term no gradient; a pair and
        its reverse cancel. Both are counted in the log and the card; when every pair is the same clip
        twice and no chosen-clip loss is trained (``rpo_alpha``), nothing can be learned: refused."""
        rows = pairs.select_columns(["prompt", *PAIR_COLUMNS]).with_format(None)
        source = self.data_sources[0]
        keys = [
            tuple(clip_key(r["prompt"], r[c], f"{source}: row {i}, column '{c}'") for c in PAIR_COLUMNS)
            for i, r in enumerate(rows)
        ]
        same = [i for i, (chosen, rejected) in enumerate(keys) if chosen == rejected]
        ordered = set(keys)
        reversed_ = [
            i
            for i, (chosen, rejected) in enumerate(keys)
            if chosen != rejected and (rejected, chosen) in ordered
        ]
        if len(same) == len(keys) and not learns_chosen:
            raise ValueError(
                f"{self.data_sources[0]}: in every pair ({len(keys)}) the chosen and rejected clips are the "
                "same clip: Diffusion-DPO learns nothing from them"
            )
        for found, what in (
            (same, "have the same clip as chosen and rejected (no DPO gradient)"),
            (reversed_, "contradict another pair (the same two clips, the other way round)"),
        ):
            if found:
                shown = ", ".join(map(str, found[:10])) + (" …" if len(found) > 10 else "")
                self.note_limit(f"{len(found)} of {len(keys)} pairs {what}: rows {shown}")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Diffusion-DPO (+ ``rpo_alpha`` · the chosen clips' denoising loss: CRPO); implicit accuracy
        and the model's MSE gap are kept for :meth:`log`."""
        chosen, rejected = inputs["chosen"], inputs["rejected"]
        latents_w, latents_l = self._sample_latents(chosen), self._sample_latents(rejected)
        conditioning = self._condition(chosen)
        noise = torch.randn_like(latents_w)
        timesteps = self.noise.sample_timesteps(latents_w.shape[0], latents_w.device)
        mse_w, _ = self._noised_mse(model, latents_w, conditioning, noise, timesteps)
        mse_l, _ = self._noised_mse(model, latents_l, conditioning, noise, timesteps)
        ref_w, ref_l = self._reference_mses(model, conditioning, noise, timesteps, latents_w, latents_l)
        loss, metrics = diffusion_dpo_loss(
            mse_w, mse_l, ref_w, ref_l, self.args.dpo_beta, self.args.rpo_alpha
        )
        loss = self._finish_loss(loss, metrics)
        return (loss, {"loss": loss}) if return_outputs else loss

    def card_facts(self) -> dict:
        return {"num_rows": len(self.train_rewards), "mean_reward": 1.0}
