"""Frozen components parked off the training device while the denoiser trains on cached features —
and a tripwire that makes any call into a parked component fail at once, on every machine.

On a GPU a parked text encoder called with token ids on the GPU fails with a device mismatch deep
inside transformers; on a CPU-only machine, where the training device and the parking place are one
device, the same call silently works. The tripwire makes both machines say the same thing, so the
suite sees on a CPU what the first GPU run would have hit."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.utils.hooks import RemovableHandle


class ParkedComponentCalled(RuntimeError):
    """A component was run while it was parked: training would crash on a GPU here."""


#: the armed tripwire's handle, kept on the component itself: whoever takes the components over next
#: (a new trainer on the same pipeline) disarms what an earlier one left armed
_TRIPWIRE = "_baton_tta_parked_tripwire"


def _disarm(component: torch.nn.Module) -> None:
    handle: RemovableHandle | None = component.__dict__.pop(_TRIPWIRE, None)
    if handle is not None:
        handle.remove()


class Parking:
    """The frozen components by name, on the training device or parked. Taking components over
    disarms a tripwire an earlier owner left (its trainer parked them and was dropped)."""

    def __init__(self, components: Mapping[str, torch.nn.Module]) -> None:
        self.components = dict(components)
        self.parked_on: torch.device | None = None
        for component in self.components.values():
            _disarm(component)

    def park(self, device: torch.device | str) -> None:
        """Move every component to ``device`` and arm the tripwire (idempotent)."""
        self.unpark_to(None)
        self.parked_on = torch.device(device)
        for name, component in self.components.items():
            component.to(self.parked_on)
            component.__dict__[_TRIPWIRE] = component.register_forward_pre_hook(self._tripwire(name))

    def unpark_to(self, device: torch.device | str | None) -> None:
        """Disarm the tripwire and (unless ``device`` is None) move every component to ``device``."""
        for component in self.components.values():
            _disarm(component)
        self.parked_on = None
        if device is not None:
            for component in self.components.values():
                component.to(device)

    def _tripwire(self, name: str):
        def refuse(*_):
            raise ParkedComponentCalled(
                f"the frozen {name} was called while parked on {self.parked_on} (features are cached, so "
                "only the denoiser should run during training): on a GPU this call would fail with a "
                "device mismatch. Whatever it computes must be computed before parking (see "
                "AudioFamily.prepare_for_parking), or inside DiffusionTrainer.frozen_on_device()."
            )

        return refuse
