"""What keeps a fine-tuning run honest: it stops at the first non-finite loss or gradient, it never
mixes with another run's folder, and it resumes only from checkpoints that were written completely.

A GPU-day lost to a NaN that "finished successfully", to a folder holding two runs' files, or to a
half-written checkpoint is the failure these guard against (docs/architecture.md, "Pitfalls").
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from baton_tta.data.lock import LOCK_FILE

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
COMPLETE_MARKER = "checkpoint_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: Config fields that define what a run learns; a resumed run must keep them (output, logging,
#: saving, validation and the length of the run may change).
DEFINING_FIELDS = (
    "learning_rate",
    "seed",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "optim",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "max_grad_norm",
    "bf16",
    "fp16",
    "audio_length_s",
    "snr_gamma",
    "snr_weighting",
    "condition_dropout",
    "use_lora",
    "lora_rank",
    "lora_alpha",
    "lora_target_modules",
    "use_ema",
    "ema_decay",
    "beta",
    "reward_transform",
    "human_to_reward_ratio",
    "dpo_beta",
    "rpo_alpha",
    "kto_beta",
    "desirable_weight",
    "undesirable_weight",
    "kto_reward_threshold",
    # GRPO: what the policy samples and how it is updated
    "num_generations",
    "num_inference_steps",
    "guidance_scale",
    "eta",
    "timestep_fraction",
    "epsilon",
    "epsilon_high",
    "num_iterations",
    "scale_rewards",
    "reward_weights",
)


class NonFiniteError(FloatingPointError):
    """A loss term or a gradient is NaN or infinite; the message names the step and what broke."""


def check_finite(step: int, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` naming the step and every non-finite term of the loss."""
    if bool(torch.isfinite(loss).all()):
        return
    broken = [f"{name} = {float(value)}" for name, value in terms.items() if not math.isfinite(float(value))]
    raise NonFiniteError(
        f"step {step}: the loss is {float(loss)} ({', '.join(broken) or 'no single term is'}); "
        "training stopped before the weights changed (lower the learning rate, check the rewards)"
    )


class FiniteStepGuard:
    """Stops a run before the first optimizer step that would write a non-finite weight, with one host
    read per step: the gradient norm the Trainer computes anyway (finite exactly when every gradient
    and so the loss behind them is). Only once it is not are the step's losses and the parameters
    searched, to name what broke.

    Under fp16 a non-finite norm from a finite loss is the GradScaler's overflow: the scaler skips that
    step and lowers its scale, as it is meant to. Only ``max_skipped`` such skips in a row stop the run.
    """

    def __init__(self, max_skipped: int = 50) -> None:
        self.max_skipped = max_skipped
        self.skipped_in_a_row = 0
        self._losses: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []

    def record_loss(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        """Keep a micro-step's loss and its terms on the device (no read) until the step's check."""
        self._losses.append((loss.detach(), {k: v for k, v in terms.items() if isinstance(v, torch.Tensor)}))

    def check(self, step: int, grad_norm: torch.Tensor | float, model: torch.nn.Module, scaled: bool) -> None:
        """``scaled``: a GradScaler unscaled these gradients and will skip a non-finite step."""
        losses, self._losses = self._losses, []
        if math.isfinite(float(grad_norm)):
            self.skipped_in_a_row = 0
            return
        for loss, terms in losses:
            check_finite(step, loss, terms)
        if not scaled:
            check_finite_gradients(step, grad_norm, model)
        self.skipped_in_a_row += 1
        if self.skipped_in_a_row >= self.max_skipped:
            raise NonFiniteError(
                f"step {step}: the fp16 gradient scaler skipped {self.skipped_in_a_row} steps in a row "
                "(every gradient overflowed at each scale it tried); training stopped (train in bf16, or "
                "lower the learning rate)"
            )
        logger.warning(
            "step %d: fp16 gradients overflowed; the scaler skips this step and lowers its scale "
            "(%d in a row, the run stops at %d)",
            step,
            self.skipped_in_a_row,
            self.max_skipped,
        )


def check_finite_gradients(step: int, grad_norm: torch.Tensor | float, model: torch.nn.Module) -> None:
    """Raise :class:`NonFiniteError` naming the parameters whose gradients are not finite."""
    if math.isfinite(float(grad_norm)):
        return
    broken = [
        name
        for name, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]
    raise NonFiniteError(
        f"step {step}: non-finite gradients in {len(broken)} parameter(s), first {broken[:3]} (gradient norm "
        f"{float(grad_norm)}); training stopped before the optimizer step"
    )


def defining_settings(
    args: Any, data_sources: list[str], base_model: str | None, content: list[str] | None = None
) -> dict[str, Any]:
    """What a run is: its base model, its data (where it is, and ``content``: what it is, by
    :func:`~baton_tta.data.fingerprint.content_fingerprint`) and the config fields that shape the weights."""
    settings = {name: getattr(args, name) for name in DEFINING_FIELDS if hasattr(args, name)}
    settings = json.loads(json.dumps(settings, default=str))
    return {
        "base_model": base_model,
        "data": list(data_sources),
        "content": list(content or []),
        "settings": settings,
    }


def _previous_results(output_dir: Path) -> list[str]:
    """Files or folders another run leaves behind."""
    if not output_dir.is_dir():
        return []
    names = [RUN_FILE, "model_index.json", "pytorch_lora_weights.safetensors", "validation", "README.md"]
    found = [n for n in names if (output_dir / n).exists()]
    return found + sorted(p.name for p in output_dir.iterdir() if _CHECKPOINT.match(p.name))


def prepare_output_dir(
    output_dir: str | os.PathLike, run: dict[str, Any], resuming: bool, overwrite: bool
) -> None:
    """Refuse a folder that holds another run's results (``overwrite`` clears it first); on resume,
    refuse changed defining settings, listing them. Then record this run in ``run.json``.

    The caller holds the folder's lock (:func:`baton_tta.data.lock.acquire`) before this runs, so a
    live run's folder is never cleared, and clearing keeps that lock."""
    folder = Path(output_dir)
    previous = _previous_results(folder)
    if previous and overwrite and not resuming:
        logger.info("overwrite_output_dir: clearing %s (%s)", folder, ", ".join(previous))
        for entry in folder.iterdir():
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    elif previous and not resuming:
        raise FileExistsError(
            f"{folder} holds another run's results ({', '.join(previous[:6])}); use a new output_dir, "
            "resume it with --resume_from_checkpoint last, or clear it with --overwrite_output_dir"
        )
    elif resuming and (folder / RUN_FILE).is_file():
        recorded = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        changed = _differences(recorded, run)
        if changed:
            raise ValueError(
                f"{folder}: resuming with settings that differ from the run being resumed: {'; '.join(changed)}"
            )
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / RUN_FILE, json.dumps(run, indent=2, sort_keys=True))


def _differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    old = {
        "base_model": recorded.get("base_model"),
        "data": recorded.get("data"),
        "data content": recorded.get("content"),
        **recorded.get("settings", {}),
    }
    new = {
        "base_model": current["base_model"],
        "data": current["data"],
        "data content": current["content"],
        **current["settings"],
    }
    return [
        f"{k}: {old.get(k)!r} → {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def write_atomically(path: Path, text: str) -> None:
    """``text`` in ``path`` whole or not at all (a temporary file renamed into place)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def mark_complete(checkpoint_dir: str | os.PathLike, step: int) -> None:
    """Written last, after every file of the checkpoint: its presence means the checkpoint is whole."""
    write_atomically(Path(checkpoint_dir) / COMPLETE_MARKER, json.dumps({"global_step": step}))


class CheckpointSpaceError(OSError):
    """A checkpoint that does not fit on its disk: raised before writing when it clearly will not,
    and in place of the writer's own message (torch's "unexpected pos …", which never says "space")
    when the disk fills during the write."""


def _checkpoint_bytes(checkpoint: str | None, trainable_bytes: int) -> int:
    """What the next checkpoint will take: the last complete one's size, or, before the first, the
    trainable weights three times over (the weights and Adam's two moments)."""
    if checkpoint is None:
        return 3 * trainable_bytes
    return sum(path.stat().st_size for path in Path(checkpoint).rglob("*") if path.is_file())


def _disk_is_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "unexpected pos" in text or "No space left" in text or "file write failed" in text


@contextmanager
def space_for_checkpoint(folder: str | os.PathLike, trainable_bytes: int) -> Iterator[None]:
    """Write a checkpoint into ``folder`` only if it fits, and say so in words if the disk fills
    anyway: the partial checkpoint is removed (so ``resume_from_checkpoint last`` never meets it) and
    the error names the folder, the free space and the last complete checkpoint, which is kept."""
    folder = Path(folder)
    previous = last_complete_checkpoint(folder.parent)
    needed = _checkpoint_bytes(previous, trainable_bytes)
    free = shutil.disk_usage(folder.parent).free
    advice = "free some space, lower save_total_limit or save less often (save_steps)"
    if free < needed:
        raise CheckpointSpaceError(
            errno.ENOSPC,
            f"{folder}: not enough disk space for this checkpoint — {free / 1e6:.1f} MB free, about "
            f"{needed / 1e6:.1f} MB needed; {advice}. The last complete checkpoint is {previous}.",
        )
    try:
        yield
    except (OSError, RuntimeError) as error:
        if not _disk_is_full(error):
            raise
        shutil.rmtree(folder, ignore_errors=True)
        free = shutil.disk_usage(folder.parent).free
        raise CheckpointSpaceError(
            errno.ENOSPC,
            f"{folder}: the disk ran out of space while this checkpoint was written ({free / 1e6:.1f} MB "
            f"free now; the writer said: {error}). The partial checkpoint was removed; the last "
            f"complete checkpoint is {previous}; {advice}.",
        ) from error


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest ``checkpoint-N`` whose marker exists; newer incomplete ones (a kill during a save)
    are skipped with a warning."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    checkpoints = sorted(
        (int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()
    )
    for _, path in reversed(checkpoints):
        if (path / COMPLETE_MARKER).is_file():
            return str(path)
        logger.warning("%s was not written completely (killed during the save?): skipping it", path)
    return None
