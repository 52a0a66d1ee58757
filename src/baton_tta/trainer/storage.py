"""Frozen weights stored in the training dtype: the half of a LoRA run's memory that never trains.

Under mixed precision (``bf16``/``fp16``) autocast casts the weights of every linear and convolution
layer to the half dtype at each call; a frozen fp32 weight therefore costs twice its memory and a
copy per forward (measured at TANGO's size: 17 % of device time in dtype copies), for an operation
that reads the half-size copy anyway. Holding those weights in the half dtype once gives autocast
nothing to cast and leaves every result unchanged, bit for bit. Only those layers change: norm
layers, embeddings and anything autocast runs in fp32 keep their weights, and trainable weights
(LoRA matrices, a fully trained denoiser) stay fp32 for the optimizer. The fp32 originals wait on
the host, so a saved pipeline holds the weights it was loaded with, not their rounding.
"""

from __future__ import annotations

import torch

from baton_tta.families.precision import DTYPES

#: the layers whose weights autocast casts to the half dtype (and whose bias it casts with them)
AUTOCAST_LAYERS = (
    torch.nn.Linear,
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
    torch.nn.ConvTranspose1d,
    torch.nn.ConvTranspose2d,
)


def training_dtype(bf16: bool, fp16: bool) -> torch.dtype | None:
    """The half dtype a run trains in (the ``TrainingArguments`` flags), or None for fp32."""
    return DTYPES["bf16"] if bf16 else DTYPES["fp16"] if fp16 else None


def store_frozen_in(model: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Cast the parameters of every frozen linear / convolution layer of ``model`` to ``dtype`` in
    place; returns their fp32 originals on the host, by state-dict name, for :func:`restore`."""
    originals: dict[str, torch.Tensor] = {}
    for module_name, module in model.named_modules():
        if not isinstance(module, AUTOCAST_LAYERS):
            continue
        parameters = list(module.named_parameters(recurse=False))
        if any(parameter.requires_grad for _, parameter in parameters):
            continue
        for name, parameter in parameters:
            if parameter.dtype == dtype or not parameter.is_floating_point():
                continue
            originals[f"{module_name}.{name}"] = parameter.detach().to("cpu", copy=True)
            parameter.data = parameter.data.to(dtype)
    return originals


def restore(model: torch.nn.Module, originals: dict[str, torch.Tensor]) -> None:
    """Put :func:`store_frozen_in`'s originals back (on each parameter's device)."""
    parameters = dict(model.named_parameters())
    for name, original in originals.items():
        parameter = parameters[name]
        parameter.data = original.to(parameter.device)
