"""RewardWeightedDiffusionTrainer: BATON stage 3 (paper §3.3, Eq. 7) on any family's denoiser.

    L = mean_i f(r_i)·w_i·‖target_i − pred_i‖²  +  β · mean_j w_j·‖target_j − pred_j‖²

over a preference batch i (r = the human label, or the reward model's score) and a pretrain batch j
(AudioCaps-like ``prompt``/``audio`` rows). Everything else — the frozen encoders, caching, LoRA,
checkpoints, the pipeline folder and its card — is :class:`~baton_tta.trainer.base.DiffusionTrainer`'s.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from datasets import Dataset
from diffusers import DiffusionPipeline
from peft import LoraConfig
from transformers import TrainerCallback

from baton_tta.reward.labelling import score_rows
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.baton_config import RewardWeightedDiffusionConfig
from baton_tta.trainer.data import DiffusionCollator, check_reward_range, select_preference_rows
from baton_tta.trainer.loss import reward_weighted_loss

logger = logging.getLogger(__name__)


class RewardWeightedDiffusionTrainer(DiffusionTrainer):
    """Fine-tune a pipeline's denoiser (TANGO, AudioLDM 2, Stable Audio Open, Stable Audio 3) with
    BATON's reward-weighted denoising loss.

    Args:
        pipeline: a pipeline of any supported family, or a folder / Hub id to load one from.
        args: [`RewardWeightedDiffusionConfig`].
        train_dataset: binary preference dataset, or its id / path.
        pretrain_dataset: ``prompt``/``audio`` rows for the β term of Eq. 7 (AudioCaps-like), or id / path.
        reward_model: scores rows without a reward (unlabelled clips) before training and validation clips
            during it; a ``BatonRewardModel``, its id / path, or any object with
            ``score(prompts, audios, sampling_rate) -> list[float]``.
        peft_config: a ``peft.LoraConfig`` (overrides the ``use_lora``/``lora_*`` fields).
        callbacks: extra ``TrainerCallback``s.
    """

    card_title = "BATON fine-tuned {model}"
    card_summary = (
        "{model} fine-tuned with BATON's reward-weighted denoising loss (arXiv 2402.00744, Eq. 7: "
        "`mean f(r)·‖target − pred‖² + β · pretrain loss`) with baton-tta."
    )

    def __init__(
        self,
        pipeline: DiffusionPipeline | str,
        args: RewardWeightedDiffusionConfig | None = None,
        train_dataset: Dataset | str | None = None,
        pretrain_dataset: Dataset | str | None = None,
        reward_model: Any = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        args = args or RewardWeightedDiffusionConfig(output_dir="outputs/baton-tango")
        self.pretrain_source = pretrain_dataset
        self.reward_model = load_scorer(reward_model, args.device)
        super().__init__(pipeline, args, train_dataset, peft_config, callbacks)

    def _prepare_data(self, train_dataset, args) -> tuple[DiffusionCollator, int, int]:
        columns = {
            args.prompt_column: "prompt",
            args.audio_column: "audio",
            args.label_column: "label",
            args.reward_column: "reward",
            args.source_column: "source",
        }
        data = self._standardize(train_dataset, "binary", columns, "preference dataset")
        preference, rewards, unscored = select_preference_rows(
            data, args.human_to_reward_ratio, self.reward_model is not None, args.seed
        )
        if unscored:
            scores = score_rows(preference, unscored, self.reward_model)
            check_reward_range(dict(zip(unscored, scores)), "the reward model's scores")
            mean = sum(scores) / len(scores)
            logger.info("scored %d unlabelled row(s) with the reward model (mean %.3f)", len(scores), mean)
            for position, score in zip(unscored, scores):
                rewards[position] = score
        self.train_rewards = rewards
        pretrain = None
        if self.pretrain_source is not None:
            pretrain = self._standardize(self.pretrain_source, "pretrain", {}, "pretrain dataset")
            if len(pretrain) == 0:
                raise ValueError("the pretrain dataset is empty")
        encoded = {"preference:audio": self._encode(preference, "audio", self.data_sources[0], args)}
        if pretrain is not None:
            encoded["pretrain:audio"] = self._encode(pretrain, "audio", self.data_sources[1], args)
        cache = {k: v for k, v in encoded.items() if v is not None} if args.cache_latents else None
        collator = DiffusionCollator(self.encoder, preference, rewards, pretrain, cache, ("audio",))
        return collator, len(preference), len(pretrain) if pretrain is not None else 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Paper Eq. 7; per-term values are kept for :meth:`log`."""
        pre_mse = pre_w = None
        if "pretrain" in inputs and self.args.beta > 0:
            (pref_mse, pref_w), (pre_mse, pre_w) = self._joint_denoising_terms(
                model, [inputs["audio"], inputs["pretrain"]]
            )
        else:
            pref_mse, pref_w = self._denoising_terms(model, inputs["audio"])
        loss, metrics = reward_weighted_loss(
            pref_mse, inputs["rewards"], pref_w, pre_mse, pre_w, self.args.beta, self.args.reward_transform
        )
        metrics["mean_reward"] = inputs["rewards"].mean()
        loss = self._finish_loss(loss, metrics)
        return (loss, {"loss": loss}) if return_outputs else loss

    def card_facts(self) -> dict[str, Any]:
        rewards = self.train_rewards
        return {"num_rows": len(rewards), "mean_reward": sum(rewards) / max(1, len(rewards))}


def load_scorer(reward_model: Any, device: torch.device | str | None = None) -> Any:
    """A scorer as given (anything with ``score``), or the ``BatonRewardModel`` at an id / path; a
    scorer that is a module goes to ``device`` (the training device: it scores rollouts and validation
    clips there, not on the CPU)."""
    if reward_model is None:
        return None
    if isinstance(reward_model, str):
        reward_model = BatonRewardModel.from_pretrained(reward_model)
    if not hasattr(reward_model, "score"):
        raise TypeError(
            "reward_model must have a score(prompts, audios, sampling_rate) method, got "
            f"{type(reward_model).__name__}"
        )
    if device is not None and isinstance(reward_model, torch.nn.Module):
        reward_model.to(device)
    return reward_model
