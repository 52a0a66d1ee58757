"""Counting the places where the host waits for the device: on a GPU each is a synchronisation that
stalls the queue of kernels, so a training step that makes ten of them runs at the speed of its
slowest launch, not of its math.

The counter works on any device, so a CPU run counts exactly what a GPU run would wait on:

- reading a tensor's value into Python (``.item()``, ``float(t)``, ``int(t)``, ``bool(t)``, ``if t:``):
  the dispatcher's ``aten._local_scalar_dense``;
- ops whose output size depends on the values (boolean-mask indexing, ``nonzero``, ``masked_select``,
  ``unique``): the host must read the count before it can allocate;
- ``.tolist()`` and ``.cpu()`` on a tensor (a device-to-host copy on a GPU; on a CPU tensor they count
  only when ``count_cpu_copies`` says so, as a CPU run standing in for a GPU run does). ``.numpy()``
  needs a CPU tensor already, so it never reads the device.

On a CPU machine every tensor is on the CPU, so the counter cannot tell a read of device memory from
a read of data that lives on the host on a GPU too (scores a reward function returned, a scheduler's
tables): its counts are an upper bound of a GPU run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import TrainerCallback

#: ops that read device memory on the host
VALUE_READS = {"aten::_local_scalar_dense"}
#: ops whose output size depends on the input's values
DATA_DEPENDENT_SHAPES = {"aten::nonzero", "aten::masked_select", "aten::_unique2", "aten::unique_dim"}
#: tensor methods that copy to the host
HOST_COPIES = ("tolist", "cpu")


class HostReadCounter(TorchDispatchMode):
    """Counts host reads inside its block, by kind (``with HostReadCounter() as reads: …; reads.total``).

    Args:
        count_cpu_copies: count ``.cpu()``/``.tolist()``/``.numpy()`` on CPU tensors too. A CPU run
            of a GPU path sets it: there every tensor is on the CPU, but on the GPU these would copy.
        libraries: modules whose own reads are theirs, not the caller's (a frozen text encoder's mask
            check inside transformers): reads made inside their forward go to ``library_counts``.
    """

    def __init__(self, count_cpu_copies: bool = True, libraries: Iterable[torch.nn.Module] = ()) -> None:
        super().__init__()
        self.count_cpu_copies = count_cpu_copies
        self.counts: Counter[str] = Counter()
        self.library_counts: Counter[str] = Counter()
        self._libraries = list(libraries)
        self._inside_library = 0
        self._hooks: list[Any] = []
        self._originals: dict[str, Callable[..., Any]] = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def _tally(self) -> Counter[str]:
        return self.library_counts if self._inside_library else self.counts

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in VALUE_READS or name in DATA_DEPENDENT_SHAPES:
            self._tally[name.removeprefix("aten::")] += 1
        elif name == "aten::index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] if len(args) > 1 else ())
        ):
            self._tally["boolean index"] += 1
        return func(*args, **(kwargs or {}))

    def _enter_library(self, *_: Any) -> None:
        self._inside_library += 1

    def _leave_library(self, *_: Any) -> None:
        self._inside_library -= 1

    def __enter__(self):
        # every submodule: a pipeline may call into one directly (``clap.get_text_features``)
        for module in (m for library in self._libraries for m in library.modules()):
            self._hooks.append(module.register_forward_pre_hook(self._enter_library))
            self._hooks.append(module.register_forward_hook(self._leave_library, always_call=True))
        for method in HOST_COPIES:
            original = getattr(torch.Tensor, method)
            self._originals[method] = original
            setattr(torch.Tensor, method, self._counting(method, original))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for method, original in self._originals.items():
                setattr(torch.Tensor, method, original)
            self._originals.clear()
            for hook in self._hooks:
                hook.remove()
            self._hooks.clear()

    def _counting(self, method: str, original: Callable[..., Any]) -> Callable[..., Any]:
        counter = self

        def counted(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if counter.count_cpu_copies or tensor.device.type != "cpu":  # (.cpu() on the GPU: one copy)
                counter._tally[method] += 1
            return original(tensor, *args, **kwargs)

        return counted


class CountPerStep(TrainerCallback):
    """Host reads from the start of each optimizer step to the optimizer's step: forward, backward,
    the gradient norm and the update (validation and logging, which come after, are not the step).
    Reads inside ``libraries``' forward (the frozen encoders an uncached step runs) are theirs:
    counted apart, in ``library_steps``."""

    def __init__(self, libraries: Iterable[torch.nn.Module] = ()) -> None:
        self.steps: list[dict[str, int]] = []
        self.library_steps: list[dict[str, int]] = []
        self._libraries = list(libraries)
        self._counter: HostReadCounter | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._counter = HostReadCounter(libraries=self._libraries)
        self._counter.__enter__()

    def on_optimizer_step(self, args, state, control, **kwargs):
        assert self._counter is not None
        self._counter.__exit__(None, None, None)
        self.steps.append(dict(self._counter.counts))
        self.library_steps.append(dict(self._counter.library_counts))
