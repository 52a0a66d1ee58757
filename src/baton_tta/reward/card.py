"""Model card of a trained reward model: validation metrics per task as model-index results, the
prediction histogram, the backbone and every training setting."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData


def write_reward_card(output_dir: Path, result, config, model, dataset_id: str | None = None) -> ModelCard:
    dataset_name = dataset_id or "preference data"
    eval_results = [
        EvalResult(
            task_type="text-audio-alignment",
            task_name=f"alignment reward ({task})",
            dataset_type=dataset_id or "local",
            dataset_name=f"{dataset_name} ({task}, validation by prompt)",
            metric_type=metric,
            metric_value=round(value, 4),
        )
        for task, metrics in result.metrics.items()
        for metric, value in metrics.items()
        if metric in ("accuracy", "roc_auc", "f1", "ece") and not math.isnan(value)
    ]
    data = ModelCardData(
        library_name="transformers",
        model_name="baton-reward-model",
        eval_results=eval_results,
        datasets=[dataset_id] if dataset_id else None,
        tags=["baton", "reward-model", "clap", "text-to-audio"],
        license="apache-2.0",
    )
    rows = "\n".join(
        f"| {task} | {m['count']:.0f} | {m['accuracy']:.3f} | {m['roc_auc']:.3f} | {m['f1']:.3f} | {m['ece']:.3f} |"
        for task, m in result.metrics.items()
    )
    settings = "\n".join(f"| `{k}` | `{v}` |" for k, v in asdict(config).items())
    backbone = model.config.text_backbone
    text = f"""---
{data.to_yaml()}
---

# BATON reward model

Predicts whether a clip is aligned with its caption (BATON, arXiv 2402.00744, §3.2): frozen CLAP
audio encoder and {"CLAP" if backbone == "clap" else "T5"} text encoder, embeddings concatenated, MLP head
{[model.head[0].in_features, *model.config.head_hidden_sizes, 1]}, sigmoid; trained with
{model.config.loss.upper()} on human labels of `{dataset_name}`.

```python
from baton_tta.reward import BatonRewardModel
model = BatonRewardModel.from_pretrained("<this repo or folder>")
rewards = model.score(["A dog barks followed by a car horn"], [waveform], sampling_rate=16000)
```

## Validation (split by prompt, {result.validation_rows} clips; best epoch {result.best_epoch})

| task | clips | accuracy | ROC-AUC | F1 | ECE |
|---|---:|---:|---:|---:|---:|
{rows}

![prediction histogram](prediction_histogram.png)

## Training

{result.train_rows} training clips.

| setting | value |
|---|---|
{settings}
"""
    card = ModelCard(text)
    card.save(output_dir / "README.md")
    return card
