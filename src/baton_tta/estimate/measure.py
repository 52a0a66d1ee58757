"""What one estimate found: the bytes a device holds, by kind, and the work it does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from baton_tta.estimate.fake import storage_bytes


@dataclass
class MemoryEstimate:
    """Peak device memory of one piece of work (a training step, a GRPO update, generation), broken
    down; bytes throughout (rounded as the CUDA allocator rounds each tensor)."""

    what: str
    #: weights on the device, by dtype name ("float32", "bfloat16"…): the trained model, a frozen
    #: reference, an EMA copy and every frozen component that is not parked
    weights: dict[str, int] = field(default_factory=dict)
    #: frozen components waiting in host memory while only the denoiser runs (not on the device)
    parked: int = 0
    #: the trained parameters' gradients (fp32, as the trained parameters)
    gradients: int = 0
    #: the optimizer's state (AdamW: two moments per trained parameter)
    optimizer_state: int = 0
    #: the batch on the device (cached features, or captions' tokens and clips)
    batch: int = 0
    #: at the step's highest point: activations, gradients and temporaries beyond what is resident
    working_at_peak: int = 0
    #: the highest point before the first step (the whole pipeline moved to the device before its
    #: frozen parts are parked), 0 where it does not apply
    setup_peak: int = 0
    #: floating-point operations of the work (one optimizer step, one update, one batch of clips)
    flops: float = 0.0
    #: places one step makes the host wait for the device (None where not counted)
    host_reads: int | None = None

    @property
    def resident(self) -> int:
        return sum(self.weights.values()) + self.optimizer_state + self.batch

    @property
    def peak(self) -> int:
        return max(self.resident + self.working_at_peak, self.setup_peak)


def bytes_by_dtype(tensors: Iterable[torch.Tensor]) -> dict[str, int]:
    """Bytes of ``tensors`` by dtype name (a storage shared by two counts once)."""
    grouped: dict[str, list[torch.Tensor]] = {}
    for tensor in tensors:
        grouped.setdefault(str(tensor.dtype).removeprefix("torch."), []).append(tensor)
    return {dtype: storage_bytes(found) for dtype, found in sorted(grouped.items())}


def weights_by_dtype(*modules: torch.nn.Module | None) -> dict[str, int]:
    """Bytes of the modules' parameters and buffers by dtype."""
    return bytes_by_dtype(
        tensor
        for module in modules
        if module is not None
        for tensor in (*module.parameters(), *module.buffers())
    )


def add_weights(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in sorted({*total, *more})}
