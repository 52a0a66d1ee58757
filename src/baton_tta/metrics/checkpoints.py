"""Loading public backbone checkpoints (PANNs, VGGish) safely and by their own key names."""

from __future__ import annotations

import os
from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def load_public_checkpoint(
    model: ModuleT, path: str | os.PathLike, name: str, ignore: tuple[str, ...] = ()
) -> ModuleT:
    """Load ``path`` into ``model`` with ``torch.load(weights_only=True)``. Accepts a bare state dict
    or ``{"model": state_dict}``; keys starting with an ``ignore`` prefix are dropped; any other
    missing or unexpected key is an error that names it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # weights_only refused the pickle: not a plain checkpoint
        raise ValueError(f"{path}: not loadable with weights_only=True ({error})") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{path}: {name} checkpoint keys do not match: missing {missing[:10]}, unexpected {unexpected[:10]}"
        )
    model.load_state_dict(state)
    model.eval()
    return model
