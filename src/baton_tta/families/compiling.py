"""Room in dynamo's cache for a regionally compiled denoiser's graphs.

Every copy of a compiled block class shares one dynamo cache (one ``forward`` code object), which
holds ``torch._dynamo.config.recompile_limit`` graphs (8) before dynamo quietly runs the rest eager.
With batch and sequence sizes symbolic (:meth:`~baton_tta.families.AudioFamily.compile_blocks`), a
block still needs a graph per *shape class* — its parameters' shapes and dtypes (a UNet's levels
differ in width; a bf16 reference differs in dtype) — and per mode it runs in (train or eval, with or
without grad, LoRA adapters on or off). A UNet with four widths needs up to 4 × 8; training makes that
room for as long as it runs and gives the limit back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: graphs one shape class may need: train/eval × grad on/off × adapters on/off
GRAPHS_PER_SHAPE_CLASS = 8

ShapeClass = tuple[tuple[tuple[int, ...], torch.dtype], ...]


def compiled_shape_classes(*denoisers: torch.nn.Module) -> set[ShapeClass]:
    """The distinct (parameter shape, dtype) signatures of the compiled blocks in ``denoisers``."""
    return {
        tuple((tuple(parameter.shape), parameter.dtype) for parameter in module.parameters())
        for denoiser in denoisers
        for module in denoiser.modules()
        if getattr(module, "_compiled_call_impl", None) is not None
    }


@contextmanager
def room_for_compiled_graphs(*denoisers: torch.nn.Module) -> Iterator[int]:
    """Inside the block dynamo may keep :data:`GRAPHS_PER_SHAPE_CLASS` graphs for each shape class of
    ``denoisers``' compiled blocks (never fewer than its own limit); yields the limit in force."""
    import torch._dynamo

    needed = len(compiled_shape_classes(*denoisers)) * GRAPHS_PER_SHAPE_CLASS
    limit = max(torch._dynamo.config.recompile_limit, needed)
    with torch._dynamo.config.patch(recompile_limit=limit):
        yield limit
