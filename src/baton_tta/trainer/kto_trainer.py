"""DiffusionKTOTrainer: Diffusion-KTO (Li et al. 2024) on BATON's binary rows, for any family.

Kahneman-Tversky optimisation needs no pairs: each clip is desirable (aligned) or undesirable (not
aligned), which is exactly what BATON's annotators answer. Per clip, at a shared noise and timestep,
the implicit reward is how much better the trained denoiser predicts than a frozen reference,
``g = e_ref − e_θ`` (e = per-sample MSE); the reference point ``z`` is the batch's mean ``g``
averaged over every process, clipped at 0 and detached (Diffusion-KTO's estimate of the KL term);
the loss is ``λ_y · (1 − σ(±β · (g − z)))`` with + for desirable and − for undesirable clips.

Rows are BATON's: human rows by their label, reward-model rows by their score thresholded at
``kto_reward_threshold`` (KTO is defined on a binary outcome; the score's size is BATON Eq. 7's
business). Data loading, the human/reward-model mix, scoring of unlabelled rows and the optional
β pretrain term are :class:`~baton_tta.trainer.baton_trainer.RewardWeightedDiffusionTrainer`'s.
"""

from __future__ import annotations

import torch

from baton_tta.trainer.baton_trainer import RewardWeightedDiffusionTrainer
from baton_tta.trainer.kto_config import DiffusionKTOConfig
from baton_tta.trainer.loss import diffusion_kto_loss


class DiffusionKTOTrainer(RewardWeightedDiffusionTrainer):
    """Fine-tune a pipeline's denoiser with Diffusion-KTO on a binary preference dataset.

    Args: those of :class:`~baton_tta.trainer.RewardWeightedDiffusionTrainer`, with
    [`DiffusionKTOConfig`] as ``args``; with LoRA the reference is the denoiser with its adapters off.
    """

    card_title = "Diffusion-KTO fine-tuned {model}"
    card_summary = (
        "{model} fine-tuned with Diffusion-KTO (Li et al. 2024) on aligned / not-aligned clips "
        "(BATON's binary labels) with baton-tta."
    )
    uses_reference = True
    args: DiffusionKTOConfig

    def _prepare_data(self, train_dataset, args):
        prepared = super()._prepare_data(train_dataset, args)
        desirable = sum(r >= args.kto_reward_threshold for r in self.train_rewards)
        undesirable = len(self.train_rewards) - desirable
        if not (desirable and undesirable):
            kind, other = ("desirable", "undesirable") if desirable else ("undesirable", "desirable")
            self.note_limit(
                f"all {len(self.train_rewards)} training rows are {kind} (reward "
                f"{'≥' if desirable else '<'} kto_reward_threshold {args.kto_reward_threshold}): Diffusion-KTO "
                f"only moves them against the reference; no {other} clip tells it what to avoid"
            )
        return prepared

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Diffusion-KTO (+ β · the pretrain term when ``beta`` > 0); terms are kept for :meth:`log`."""
        batch = inputs["audio"]
        latents = self._sample_latents(batch)
        conditioning = self._condition(batch)
        noise = torch.randn_like(latents)
        timesteps = self.noise.sample_timesteps(latents.shape[0], latents.device)
        mse, _ = self._noised_mse(model, latents, conditioning, noise, timesteps)
        (reference_mse,) = self._reference_mses(model, conditioning, noise, timesteps, latents)
        reference_point = self.accelerator.reduce((reference_mse - mse).mean().detach(), "mean")
        desirable = inputs["rewards"] >= self.args.kto_reward_threshold
        loss, metrics = diffusion_kto_loss(
            mse,
            reference_mse,
            desirable,
            self.args.kto_beta,
            self.args.desirable_weight,
            self.args.undesirable_weight,
            reference_point,
        )
        if "pretrain" in inputs and self.args.beta > 0:
            pre_mse, pre_w = self._denoising_terms(model, inputs["pretrain"])
            pretrain_term = (pre_w * pre_mse).mean()
            loss = loss + self.args.beta * pretrain_term
            metrics["loss_pretrain"] = pretrain_term.detach()
        loss = self._finish_loss(loss, metrics)
        return (loss, {"loss": loss}) if return_outputs else loss
