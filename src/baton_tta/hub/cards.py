"""Model cards for fine-tuned pipelines: base model, data, every hyperparameter, training curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import ModelCard, ModelCardData

if TYPE_CHECKING:
    from baton_tta.trainer.trainer import RewardWeightedDiffusionTrainer

CURVES_FILE = "training_curves.png"
HYPERPARAMETERS = (
    "loss_type",
    "beta",
    "reward_transform",
    "snr_gamma",
    "condition_dropout",
    "dpo_beta",
    "human_to_reward_ratio",
    "audio_length_s",
    "cache_latents",
    "use_lora",
    "lora_rank",
    "lora_alpha",
    "lora_target_modules",
    "merge_lora",
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
    "bf16",
    "fp16",
    "gradient_checkpointing",
)


def plot_training_curves(log_history: list[dict], path: Path) -> Path | None:
    """Loss terms and mean reward against steps, as a PNG (None when nothing was logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        k
        for k in ("loss", "loss_preference", "loss_pretrain", "mean_reward", "grad_norm")
        if any(k in e for e in log_history)
    ]
    if not keys:
        return None
    figure, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for axis, key in zip(axes[0], keys):
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2)
        axis.set_title(key)
        axis.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_training_card(
    trainer: RewardWeightedDiffusionTrainer, output_dir: Path, metrics: dict[str, float] | None = None
) -> ModelCard:
    """README.md (+ training_curves.png) for a fine-tuned pipeline folder."""
    args = trainer.args
    curves = plot_training_curves(trainer.state.log_history, output_dir / CURVES_FILE)
    rows = "\n".join(
        f"| `{name}` | `{getattr(args, name)}` |" for name in HYPERPARAMETERS if hasattr(args, name)
    )
    final = [e for e in trainer.state.log_history if "train_loss" in e]
    datasets = trainer.dataset_ids or None
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-audio",
        base_model=trainer.base_model_id
        if isinstance(trainer.base_model_id, str) and trainer.base_model_id
        else None,
        datasets=datasets,
        tags=["baton", "text-to-audio", "tango", "diffusers", "rlhf"]
        + (["lora"] if trainer.use_lora else []),
        license="cc-by-nc-sa-4.0",
    )
    lora = (
        "\nLoRA weights are in `pytorch_lora_weights.safetensors`:\n\n```python\n"
        'pipe.load_lora_weights("<this repo>")\n```\n'
        if trainer.use_lora
        else ""
    )
    metric_lines = "".join(f"| {k} | {v:.4g} |\n" for k, v in (metrics or {}).items())
    evaluation = (
        ("| metric | value |\n|---|---|\n" + metric_lines)
        if metric_lines
        else "Not evaluated yet (see `trainers/evaluate.py`)."
    )
    curves_line = f"![training curves]({CURVES_FILE})" if curves else ""
    text = f"""---
{data.to_yaml()}
---

# BATON fine-tuned TANGO

TANGO fine-tuned with BATON's reward-weighted denoising loss (arXiv 2402.00744,
Eq. 7: `mean f(r)·‖target − pred‖² + β · pretrain loss`) with baton-tta.

Base model: `{trainer.base_model_id or "a TangoPipeline"}`. Training data: {", ".join(f"`{d}`" for d in trainer.dataset_ids) or "in-memory datasets"}
({len(trainer.train_dataset)} preference rows, mean reward {sum(trainer.train_rewards) / max(1, len(trainer.train_rewards)):.3f}).

## Use

```python
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained("<this repo or folder>", trust_remote_code=True)
audio = pipe("A dog barks followed by a car horn", num_inference_steps=200).audios[0]
```
{lora}
## Training

| hyperparameter | value |
|---|---|
{rows}

Steps: {trainer.state.global_step}; final train loss: {final[-1]["train_loss"] if final else "n/a"}.
{curves_line}

## Evaluation

{evaluation}
"""
    card = ModelCard(text)
    card.save(output_dir / "README.md")
    return card
