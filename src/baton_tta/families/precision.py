"""Mixed precision for generation: a setting named as accelerate names it (``no``, ``fp16``, ``bf16``).

Measured at TANGO's size on one H200, the same pipeline made 0.19 clips/s in fp32 and 0.79 in bf16:
generation without a precision setting was four times slower than it needs to be. What runs in which
precision, for every family alike:

- **the denoiser** (all but a handful of the work: it runs at every step, twice with guidance) under
  ``torch.autocast`` in the chosen dtype;
- **the VAE decode and the vocoder** in fp32 always: they run once per batch (negligible time), make
  the waveform everyone listens to, and VAE decoders are the part known to overflow in fp16;
- **the text encoders** (T5, Flan-T5, T5Gemma, CLAP text, GPT-2) under autocast in bf16 but in fp32
  under fp16: T5's activations overflow fp16's range.

The weights stay as they are (a model being trained keeps its fp32 weights; autocast casts per
operation): :func:`cast_denoiser_for_inference` casts the denoiser once for commands that only
generate, so its steps read half-size weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from diffusers import DiffusionPipeline

MIXED_PRECISIONS = ("no", "fp16", "bf16")
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
#: components decoded in fp32 whatever the setting, and the method the pipelines call on them
DECODERS = {"vae": "decode", "vocoder": "forward"}


def check_mixed_precision(mixed_precision: str) -> str:
    if mixed_precision not in MIXED_PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISIONS}, got {mixed_precision!r}")
    return mixed_precision


def default_mixed_precision(device: torch.device | str) -> str:
    """``bf16`` on a GPU that supports it, else ``no`` (a CPU gains nothing from it)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


@contextmanager
def generation_precision(
    pipeline: DiffusionPipeline, denoiser_name: str, mixed_precision: str
) -> Iterator[None]:
    """Run the pipeline's calls inside this block at ``mixed_precision`` (see the module docstring)."""
    check_mixed_precision(mixed_precision)
    if mixed_precision == "no":
        yield
        return
    device_type = pipeline._execution_device.type
    with ExitStack() as stack:
        for name, component in pipeline.components.items():
            if not isinstance(component, torch.nn.Module) or name == denoiser_name:
                continue
            if name in DECODERS:
                stack.enter_context(_in_fp32(component, DECODERS[name], device_type))
            elif mixed_precision == "fp16":
                stack.enter_context(_in_fp32(component, "forward", device_type))
        stack.enter_context(torch.autocast(device_type, dtype=DTYPES[mixed_precision]))
        yield


@contextmanager
def _in_fp32(module: torch.nn.Module, method: str, device_type: str) -> Iterator[None]:
    """``module.method`` with autocast off and floating inputs in fp32, for the block's duration."""
    original: Callable[..., Any] = getattr(module, method)

    def in_fp32(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, enabled=False):
            return original(*_fp32(args), **_fp32(kwargs))

    setattr(module, method, in_fp32)
    try:
        yield
    finally:
        delattr(module, method)  # the instance attribute goes; the class's method is back


def _fp32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
        return value.float()
    if isinstance(value, tuple | list):
        return type(value)(_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: _fp32(v) for k, v in value.items()}
    return value


def cast_denoiser_for_inference(denoiser: torch.nn.Module, mixed_precision: str) -> None:
    """For commands that only generate: the denoiser's weights in the half dtype once, instead of a
    cast of every weight at every step under autocast."""
    if check_mixed_precision(mixed_precision) != "no":
        denoiser.to(DTYPES[mixed_precision])
