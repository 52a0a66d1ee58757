"""An exponential moving average of the trained weights, as diffusers' training scripts keep one
(``--use_ema``): diffusers' ``EMAModel`` updated after every optimiser step, saved in each checkpoint
(safetensors, no pickle) and restored on resume, and swapped in while the final pipeline is saved.

With LoRA the average is of the adapter matrices (the only trained weights), so the merged pipeline
carries the averaged adapters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import TrainerCallback

EMA_WEIGHTS = "ema.safetensors"
_SETTINGS_KEY = "ema_settings"


class TrainedWeightsEMA:
    """The EMA of ``module``'s trainable parameters (by name, so checkpoints are readable)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        # foreach: one kernel per update for every tensor, not one per tensor (a step is launch-bound)
        self.ema = EMAModel([p for _, p in self.named], decay=decay, foreach=True)

    @property
    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for _, p in self.named]

    def step(self) -> None:
        self.ema.step(self.parameters)

    def save(self, folder: str | os.PathLike) -> None:
        state = self.ema.state_dict()
        shadows = state.pop("shadow_params")
        tensors = {name: shadow.detach().cpu().contiguous() for (name, _), shadow in zip(self.named, shadows)}
        save_file(tensors, os.path.join(folder, EMA_WEIGHTS), metadata={_SETTINGS_KEY: json.dumps(state)})

    def load(self, folder: str | os.PathLike) -> None:
        path = os.path.join(folder, EMA_WEIGHTS)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{folder}: the checkpoint has no {EMA_WEIGHTS} (was it saved without use_ema?)"
            )
        with safe_open(path, framework="pt") as handle:  # one read: the settings and the averages
            settings = json.loads(handle.metadata()[_SETTINGS_KEY])
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        missing = [name for name, _ in self.named if name not in tensors]
        if missing:
            raise ValueError(f"{path}: no average for {missing[:5]} (another model's checkpoint?)")
        device = self.parameters[0].device if self.parameters else "cpu"
        settings["shadow_params"] = [tensors[name].to(device) for name, _ in self.named]
        self.ema.load_state_dict(settings)

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """The averaged weights in place of the trained ones, the trained ones back afterwards."""
        self.ema.store(self.parameters)
        self.ema.copy_to(self.parameters)
        try:
            yield
        finally:
            self.ema.restore(self.parameters)


class EMACallback(TrainerCallback):
    """Updates the average after every optimiser step (``on_step_end`` follows the step)."""

    def __init__(self, average: TrainedWeightsEMA):
        self.average = average

    def on_step_end(self, args, state, control, **kwargs):
        self.average.step()
        return control
