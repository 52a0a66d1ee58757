"""Train the reward model's head on cached embeddings (paper §3.2/§4.3, BCE on human labels).

Captions and clips are embedded once through :class:`EmbeddingCache`; every epoch then runs the MLP
head only. The validation split is made by prompt, within each task, so all clips of a caption fall
on one side (no leakage of a caption between train and validation).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from baton_tta.data.distributed import is_main_process
from baton_tta.data.lock import refuse_another_runs_results
from baton_tta.data.schema import ROLE_HUMAN, PreferenceDataError, log_excluded, rows_by_role
from baton_tta.data.settings import check_finite_settings
from baton_tta.extras import require
from baton_tta.hub.cards import reward_model_card
from baton_tta.reward.cache import EmbeddingCache
from baton_tta.reward.metrics import metrics_by_task, plot_prediction_histogram
from baton_tta.reward.modeling import BatonRewardModel

logger = logging.getLogger(__name__)

#: Held-out clips below which validation metrics are said to be a rough guide (95 % interval of an
#: accuracy near 0.5 wider than ±10 points)
FEW_VALIDATION_CLIPS = 100


def few_validation_clips(count: int) -> str:
    """What ``count`` held-out clips can say: the half-width of an accuracy's 95 % interval at 0.5."""
    half_width = 100 * 1.96 * math.sqrt(0.25 / count)
    return (
        f"Validation rests on {count} held-out clips: an accuracy near 0.5 is known only to about "
        f"±{half_width:.0f} points (95 %), so these metrics are a rough guide, not a measurement "
        f"(label more clips: {FEW_VALIDATION_CLIPS} or more)."
    )


#: What a saved reward model's folder holds: a run finding any of them there is refused
REWARD_MODEL_RESULTS = ("model.safetensors", "config.json", "reward_metrics.json", "README.md")
#: Where embeddings are cached unless a run names another folder (shared by runs and scripts).
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "baton_tta", "embeddings")
#: The sources' settings. The paper (§4.3) and the official scripts train one model per task on all
#: labelled clips and keep the final epoch (no held-out split); they differ in the optimisation.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "num_epochs": 50,
        "batch_size": 64,
        "learning_rate": 0.01,
        "weight_decay": 0.0,
        "validation_fraction": 0.0,
    },
    "official": {
        "num_epochs": 51,
        "batch_size": 32,
        "learning_rate": 0.01,
        "weight_decay": 1e-5,
        "validation_fraction": 0.0,
    },
}
#: Without a preset: a held-out split by prompt and the best validation epoch.
DEFAULTS: dict[str, Any] = {
    "num_epochs": 50,
    "batch_size": 64,
    "learning_rate": 0.01,
    "weight_decay": 0.0,
    "validation_fraction": 0.2,
}


@dataclass
class RewardTrainingConfig:
    """Head training settings. ``preset`` "paper" (50 epochs, batch 64, Adam lr 0.01) or "official"
    (51 epochs, batch 32, weight decay 1e-5) — both on all labelled clips, final epoch kept — fills the
    fields left unset; a value you give always wins. ``task`` trains one task's model, as both sources
    do (one model per task)."""

    preset: str | None = field(
        default="paper",
        metadata={
            "help": "'paper', 'official' or None (unset fields take the defaults).",
        },
    )
    task: str | None = field(
        default=None,
        metadata={
            "help": "'integrity' or 'temporal': one task's rows only (the sources train one model per task); "
            "None: both.",
        },
    )
    num_epochs: int | None = field(default=None, metadata={"help": "Epochs (paper 50, official 51)."})
    batch_size: int | None = field(
        default=None, metadata={"help": "Rows per Adam step (paper 64, official 32)."}
    )
    learning_rate: float | None = field(default=None, metadata={"help": "Adam learning rate (both 0.01)."})
    weight_decay: float | None = field(default=None, metadata={"help": "Adam weight decay (official 1e-5)."})
    validation_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Share of prompts held out per task; 0 trains on all and keeps the final epoch (both sources)."
        },
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after n epochs without a better validation loss."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the split, the head init and the batch order."})
    report_to: list[str] = field(
        default_factory=list, metadata={"help": "'tensorboard' logs the losses per epoch to output_dir/runs."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Replace a reward model already in output_dir (refused otherwise, as for train)."},
    )

    def __post_init__(self):
        check_finite_settings(self)
        # "None" on the command line is the string: the help lists it, so it means None
        self.preset = None if str(self.preset).lower() == "none" else self.preset
        self.task = None if str(self.task).lower() == "none" else self.task
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)} or None, got {self.preset!r}")
        if self.task not in (None, "integrity", "temporal"):
            raise ValueError(f"task must be 'integrity', 'temporal' or None, got {self.task!r}")
        filled = PRESETS[self.preset] if self.preset is not None else DEFAULTS
        for key, value in filled.items():
            if getattr(self, key) is None:  # a value the user gave wins over the preset
                setattr(self, key, value)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")

    def settings(self) -> tuple[int, int, float, float, float]:
        """(epochs, batch size, learning rate, weight decay, validation fraction), as filled in."""
        epochs, batch, rate, decay = self.num_epochs, self.batch_size, self.learning_rate, self.weight_decay
        fraction = self.validation_fraction
        if epochs is None or batch is None or rate is None or decay is None or fraction is None:
            raise ValueError("unfilled reward-training settings: build the config through __init__")
        return epochs, batch, rate, decay, fraction


def human_labelled(dataset: Dataset) -> Dataset:
    """Rows a person labelled 1 or 0 (:func:`~baton_tta.data.schema.row_role`); the others are
    counted and logged by reason."""
    roles = rows_by_role(dataset)
    log_excluded(roles, (ROLE_HUMAN,), "reward training")
    if not roles[ROLE_HUMAN]:
        raise PreferenceDataError(
            "the reward model's training data",
            [
                f"no human-labelled rows to train on ({len(dataset)} rows; a reward model trains on people's "
                "labels 1/0, not on scores): label the clips with `baton-tta annotate`, then "
                "`baton-tta export-labels` gives the labelled dataset"
            ],
            1,
        )
    return dataset.select(roles[ROLE_HUMAN])


def split_by_prompt(
    prompts: list[str], tasks: list[str], validation_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Row indices of train / validation: within each task, whole prompts go to one side."""
    rng = random.Random(seed)
    validation_prompts: set[tuple[str, str]] = set()
    for task in sorted(set(tasks)):
        unique = sorted({p for p, t in zip(prompts, tasks) if t == task})
        rng.shuffle(unique)
        count = max(1, round(validation_fraction * len(unique))) if len(unique) > 1 else 0
        validation_prompts.update((task, p) for p in unique[:count])
    train = [i for i, key in enumerate(zip(tasks, prompts)) if key not in validation_prompts]
    validation = [i for i, key in enumerate(zip(tasks, prompts)) if key in validation_prompts]
    return train, validation


@dataclass
class RewardTrainingResult:
    history: list[dict[str, float]]
    metrics: dict[str, dict[str, float]]
    train_rows: int
    validation_rows: int
    best_epoch: int
    #: what limits what the model could learn (one class of labels), as the log and the card say it
    limits: list[str] = field(default_factory=list)
    #: trained on one class of labels: its metrics describe nothing, so the card's model-index has none
    one_class: bool = False


def train_reward_model(
    model: BatonRewardModel,
    dataset: Dataset,
    config: RewardTrainingConfig,
    cache_dir: str | Path,
    output_dir: str | Path | None = None,
    dataset_id: str | None = None,
) -> RewardTrainingResult:
    """Fit the head on human labels; returns per-epoch history and validation metrics per task. With
    ``output_dir``: saves the model (best validation epoch), histogram PNG, metrics JSON and card; a
    folder holding another reward model is refused before any work (``overwrite_output_dir``)."""
    if output_dir is not None:
        refuse_another_runs_results(
            output_dir, REWARD_MODEL_RESULTS, config.overwrite_output_dir, "--overwrite_output_dir true"
        )
    data = human_labelled(dataset)
    if config.task is not None:
        data = data.filter(lambda row: row["task"] == config.task, desc=f"{config.task} rows")
        logger.info("training the %s model on %d rows", config.task, len(data))
        if len(data) == 0:
            raise ValueError(f"no human-labelled rows of task {config.task!r}")
    prompts, tasks = list(data["prompt"]), [t or "" for t in data["task"]]
    labels = np.asarray(data["label"], dtype=np.float32)
    epochs, batch_size, learning_rate, weight_decay, fraction = config.settings()
    held_out = fraction > 0
    if held_out:
        train_idx, val_idx = split_by_prompt(prompts, tasks, fraction, config.seed)
        if not train_idx or not val_idx:
            raise ValueError(
                f"need prompts on both sides of the split (train {len(train_idx)}, validation {len(val_idx)} rows)"
            )
    else:  # the sources' setting: every labelled clip trains, metrics are on the training clips
        train_idx, val_idx = list(range(len(data))), list(range(len(data)))
    classes = sorted({int(labels[i]) for i in train_idx})
    limits = []
    if len(classes) == 1:  # said, not refused: an online round whose people said "no" to every clip goes on
        limits.append(
            f"Every training row is labelled {classes[0]} ({len(train_idx)} rows): a reward model learns "
            "nothing from one class. It scores every clip alike, and its accuracy below says nothing."
        )
        logger.warning("%s", limits[-1])
    if held_out and len(val_idx) < FEW_VALIDATION_CLIPS:
        limits.append(few_validation_clips(len(val_idx)))
        logger.warning("%s", limits[-1])
    cache = EmbeddingCache(cache_dir, model)
    embeddings = np.concatenate([cache.embed_audios(list(data["audio"])), cache.embed_texts(prompts)], axis=1)
    logger.info("embeddings: %d cache hits, %d computed", cache.hits, cache.misses)
    features = torch.from_numpy(embeddings)
    targets = torch.from_numpy(labels)

    torch.manual_seed(config.seed)
    for module in model.head:
        if isinstance(module, torch.nn.Linear):
            module.reset_parameters()
    optimizer = torch.optim.Adam(model.head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    train_tensor = torch.tensor(train_idx)
    history, best, best_state, best_epoch, waited = [], math.inf, None, 0, 0
    writer = _tensorboard_writer(config, output_dir)
    audio_dim = model.clap.config.projection_dim
    for epoch in tqdm(range(1, epochs + 1), desc="reward head", unit="epoch"):
        model.train()
        order = train_tensor[torch.randperm(len(train_tensor), generator=generator)]
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            out = model(
                audio_embeds=features[batch, :audio_dim],
                text_embeds=features[batch, audio_dim:],
                labels=targets[batch],
            )
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            total += out.loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            val = model(
                audio_embeds=features[val_idx, :audio_dim],
                text_embeds=features[val_idx, audio_dim:],
                labels=targets[val_idx],
            )
        entry = {"epoch": epoch, "train_loss": total / len(order)}
        if held_out:
            entry["validation_loss"] = val.loss.item()
        history.append(entry)
        if writer is not None:
            for key, value in entry.items():
                if key != "epoch":
                    writer.add_scalar(f"reward/{key}", value, epoch)
        if not held_out:
            best_epoch = epoch  # the final epoch is kept
        elif entry["validation_loss"] < best - 1e-6:
            best, best_epoch, waited = entry["validation_loss"], epoch, 0
            best_state = {k: v.clone() for k, v in model.head.state_dict().items()}
        else:
            waited += 1
            if config.early_stopping_patience is not None and waited >= config.early_stopping_patience:
                logger.info("early stopping after epoch %d (best %d)", epoch, best_epoch)
                break
    if writer is not None:
        writer.close()
    if held_out and best_state is not None:  # None only when no epoch ran
        model.head.load_state_dict(best_state)
    with torch.no_grad():
        scores = model(
            audio_embeds=features[val_idx, :audio_dim], text_embeds=features[val_idx, audio_dim:]
        ).rewards.numpy()
    val_labels, val_tasks = labels[val_idx].astype(int), [tasks[i] for i in val_idx]
    result = RewardTrainingResult(
        history,
        metrics_by_task(val_labels, scores, val_tasks),
        len(train_idx),
        len(val_idx) if held_out else 0,
        best_epoch,
        limits,
        one_class=len(classes) == 1,
    )
    if output_dir is not None and is_main_process():  # every process trains the same head; one saves
        _save_outputs(model, result, config, Path(output_dir), val_labels, scores, val_tasks, dataset_id)
    return result


def _without_nan(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` with every NaN or infinite float replaced by None, and the dotted paths replaced."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, [path.lstrip(".")]
    if isinstance(value, dict):
        pairs = [(k, _without_nan(v, f"{path}.{k}")) for k, v in value.items()]
        return {k: clean for k, (clean, _) in pairs}, [p for _, (_, found) in pairs for p in found]
    if isinstance(value, list):
        items = [_without_nan(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [clean for clean, _ in items], [p for _, found in items for p in found]
    return value, []


def _tensorboard_writer(config: RewardTrainingConfig, output_dir: str | Path | None):
    unknown = set(config.report_to) - {"tensorboard", "none"}
    if unknown:
        raise ValueError(f"report_to supports 'tensorboard' (or 'none'), got {sorted(unknown)}")
    if "tensorboard" not in config.report_to or not is_main_process():
        return None
    require("tensorboard", "report_to tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(Path(output_dir or ".") / "runs"))


def _save_outputs(model, result, config, output_dir: Path, labels, scores, tasks, dataset_id) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    plot_prediction_histogram(labels, scores, tasks, output_dir / "prediction_histogram.png")
    report = {
        "metrics": result.metrics,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "train_rows": result.train_rows,
        "validation_rows": result.validation_rows,
        "config": asdict(config),
    }
    report, undefined = _without_nan(report)
    notes = list(result.limits) + [
        f"{path} is null: undefined on this validation split (e.g. ROC-AUC with clips of one class only)"
        for path in undefined
    ]
    if notes:
        report["notes"] = notes
    text = json.dumps(report, indent=2, allow_nan=False)  # NaN is not JSON: other tools refuse the file
    (output_dir / "reward_metrics.json").write_text(text, encoding="utf-8")
    card = reward_model_card(
        metrics=result.metrics,
        validation_text=(
            f"Split by prompt within each task: {result.validation_rows} held-out clips; "
            f"the model kept is epoch {result.best_epoch}'s (lowest validation loss)."
            if result.validation_rows
            else f"No held-out split (the paper's and the official code's setting): all {result.train_rows} "
            f"labelled clips train and the final epoch ({result.best_epoch}) is kept. The metrics below are "
            "on the training clips, so they say how well the head fits, not how well it generalises."
        )
        + "".join(f"\n\n**Note:** {limit}" for limit in result.limits),
        train_rows=result.train_rows,
        settings=asdict(config),
        head=[model.embedding_dim, *model.config.head_hidden_sizes, 1],
        text_backbone=model.config.text_backbone,
        loss=model.config.loss,
        dataset=dataset_id,
        index_metrics=not result.one_class,
    )
    card.save(output_dir / "README.md")
    print(f"reward model, card, metrics and histogram written to {output_dir.resolve()}")
