"""An estimate as people read it: the breakdown, whether it fits the common cards, and the cheapest
change that makes it fit one that it does not.

The margin: what an estimate counts is what ``torch.cuda.max_memory_allocated`` reports (tensors,
rounded to the allocator's blocks). A card also holds the CUDA context and cuBLAS / cuDNN workspaces
(about 0.5–0.8 GiB on current cards, outside the allocator's count) and the allocator's cached,
fragmented free blocks (reserved beyond allocated: typically 5–10 % in a training loop of fixed
shapes). :data:`MARGIN_FRACTION` and :data:`MARGIN_GIB` cover both; NCCL's buffers (multi-GPU) are
not counted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from baton_tta.estimate.measure import MemoryEstimate

GIB = 2**30
#: the allocator's cached and fragmented blocks, as a share of the estimated peak
MARGIN_FRACTION = 0.10
#: the CUDA context and the libraries' workspaces, outside the allocator's count
MARGIN_GIB = 0.75
#: the cards people rent or own, by usable memory in GiB
CARDS = {"16 GB (V100, T4, A4000)": 16, "24 GB (RTX 3090/4090, A10, L4)": 24, "40 GB (A100 40GB)": 40,
         "80 GB (A100 80GB, H100)": 80}  # fmt: skip


def shown_gib(nbytes: float) -> str:
    """GiB with two decimals, or four below a tenth (the tiny stand-ins' megabytes stay visible)."""
    gib = nbytes / GIB
    return f"{gib:.2f}" if gib >= 0.1 else f"{gib:.4f}"


def needed_gib(estimate: MemoryEstimate) -> float:
    """What a card must have free for the work: the peak with the margin."""
    return estimate.peak / GIB * (1 + MARGIN_FRACTION) + MARGIN_GIB


def fits(estimate: MemoryEstimate, card_gib: float) -> bool:
    return needed_gib(estimate) <= card_gib


def breakdown_lines(estimate: MemoryEstimate, place: str = "on the device") -> list[str]:
    """The estimate as a Markdown table, GiB; ``place`` says where it is held ("in host memory")."""
    rows = [(f"weights {place}, {dtype}", n) for dtype, n in estimate.weights.items()]
    rows += [
        ("gradients of the trained parameters (inside the working memory below)", estimate.gradients),
        ("optimizer state", estimate.optimizer_state),
        (f"the batch {place}", estimate.batch),
        ("activations, gradients and temporaries at the peak", estimate.working_at_peak),
    ]
    lines = ["| what | GiB |", "|---|---:|"]
    lines += [f"| {what} | {shown_gib(n)} |" for what, n in rows if n or what.startswith("activations")]
    lines.append(f"| **peak** | **{shown_gib(estimate.peak)}** |")
    if estimate.setup_peak:
        lines.append(
            f"| before the first step: the whole pipeline on the device, before parking | "
            f"{shown_gib(estimate.setup_peak)} |"
        )
    if estimate.parked:
        lines.append(
            f"| parked in host memory (frozen components; not on the device) | {shown_gib(estimate.parked)} |"
        )
    lines.append(
        f"| a card needs (+{MARGIN_FRACTION:.0%} and {MARGIN_GIB} GiB: allocator, CUDA context, "
        f"workspaces) | {needed_gib(estimate):.2f} |"
    )
    return lines


def card_lines(estimate: MemoryEstimate) -> list[str]:
    return ["| card | fits? |", "|---|---|"] + [
        f"| {card} | {'yes' if fits(estimate, gib) else 'no'} |" for card, gib in CARDS.items()
    ]


@dataclass(frozen=True)
class Change:
    """One change of settings that lowers memory, in the order people should try them."""

    description: str
    #: the settings' new values, or None when the change does not apply (already made)
    overrides: Callable[[object], dict[str, object] | None]


def _checkpointing(args: object) -> dict[str, object] | None:
    return None if getattr(args, "activation_checkpointing", False) else {"activation_checkpointing": True}


def _lora(args: object) -> dict[str, object] | None:
    return None if getattr(args, "use_lora", False) else {"use_lora": True}


def _half_batch(args: object) -> dict[str, object] | None:
    batch = int(getattr(args, "per_device_train_batch_size", 1))
    if batch <= 1:
        return None
    accumulation = int(getattr(args, "gradient_accumulation_steps", 1))
    return {"per_device_train_batch_size": batch // 2, "gradient_accumulation_steps": accumulation * 2}


def _shorter_clips(args: object) -> dict[str, object] | None:
    seconds = float(getattr(args, "audio_length_s", 0.0))
    return {"audio_length_s": seconds / 2} if seconds > 2.5 else None


#: what to try, cheapest first: checkpointing (the same results, ~30 % slower), LoRA (fewer trained
#: weights), half the batch with twice the accumulation (the same effective batch, slower), shorter clips
CHANGES = (
    Change("activation checkpointing (same results, slower steps)", _checkpointing),
    Change("LoRA instead of full fine-tuning", _lora),
    Change("half the batch, twice the gradient accumulation (same effective batch)", _half_batch),
    Change("clips half as long", _shorter_clips),
)


def eight_bit_optimizer_line(estimate: MemoryEstimate) -> str | None:
    """8-bit AdamW (bitsandbytes, CUDA only: not run here) keeps 2 bytes of state per parameter where
    AdamW keeps 8: the saving, computed, where it is worth a line (≥ 0.5 GiB)."""
    saved = estimate.optimizer_state * 3 / 4
    if saved < GIB / 2:
        return None
    return (
        f"- `--optim adamw_bnb_8bit` (bitsandbytes, on a CUDA machine) would keep {estimate.optimizer_state / 4 / GIB:.2f} "
        f"GiB of optimizer state instead of {estimate.optimizer_state / GIB:.2f} (computed, not run here)"
    )


def flags(overrides: dict[str, object]) -> str:
    return " ".join(f"--{k} {str(v).lower() if isinstance(v, bool) else v}" for k, v in overrides.items())


def suggestion_lines(
    estimate: MemoryEstimate,
    args: object,
    card_gib: float,
    re_estimate: Callable[[dict[str, object]], MemoryEstimate],
    changes: Sequence[Change] = CHANGES,
) -> list[str]:
    """For a card the work does not fit: the first of ``changes`` (applied one after another, each
    re-estimated) that makes it fit, or what the last one reached."""
    if fits(estimate, card_gib):
        return [f"It fits a {card_gib:g} GiB card as it is."]
    lines = [
        f"It does not fit a {card_gib:g} GiB card ({needed_gib(estimate):.1f} GiB needed). Trying, in order:"
    ]
    applied: dict[str, object] = {}
    current = args
    for change in changes:
        overrides = change.overrides(current)
        if overrides is None:
            continue
        applied.update(overrides)
        estimate = re_estimate(dict(applied))
        current = _with(args, applied)
        verdict = "fits" if fits(estimate, card_gib) else "still does not fit"
        lines.append(f"- + {change.description}: {needed_gib(estimate):.1f} GiB needed, {verdict}")
        if fits(estimate, card_gib):
            lines.append(f"\nRun with: `{flags(applied)}`")
            return lines
    line = eight_bit_optimizer_line(estimate)
    return (
        lines
        + ([line] if line else [])
        + ["\nNo change tried here makes it fit: a bigger card, or more of them."]
    )


def _with(args: object, overrides: dict[str, object]) -> object:
    return dataclasses.replace(args, **overrides)  # type: ignore[type-var]
