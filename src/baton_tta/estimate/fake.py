"""Models at their published size without their memory: parameters swapped for fake tensors, and a
count of the bytes a device would hold while code runs on them.

A fake tensor (``torch._subclasses.fake_tensor``) has a shape, a dtype, a device and strides but no
data; every op on it computes only the output's metadata. Running a training step on fake tensors
therefore allocates nothing, yet each op's outputs, their lifetimes (views share a storage, saved
activations live until backward frees them) and their dtypes (autocast included) are exactly those of
a real run of the same code. :class:`LiveBytes` watches every op's outputs and adds up their storages,
rounded as the CUDA caching allocator rounds a request (512 bytes), until Python frees them.

What it cannot see (and :mod:`baton_tta.estimate.report` adds a margin for): the allocator's
fragmentation and cached free blocks, cuDNN / cuBLAS workspaces, NCCL buffers and the CUDA context."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

#: the CUDA caching allocator's smallest block: every request is rounded up to a multiple of it
ALLOCATOR_BLOCK = 512


def allocated_bytes(nbytes: int) -> int:
    """What the CUDA caching allocator hands out for a request of ``nbytes``."""
    return -(-nbytes // ALLOCATOR_BLOCK) * ALLOCATOR_BLOCK


def fake_module(module: torch.nn.Module, mode: FakeTensorMode, device: str = "cpu") -> torch.nn.Module:
    """``module`` (on any device, ``meta`` included) with every parameter and buffer replaced, in
    place, by a fake tensor of the same shape, strides, dtype and ``requires_grad`` on ``device``."""
    for owner in module.modules():
        for name, parameter in list(owner._parameters.items()):
            if parameter is not None:
                owner._parameters[name] = torch.nn.Parameter(
                    _fake_like(parameter, mode, device), requires_grad=parameter.requires_grad
                )
        for name, buffer in list(owner._buffers.items()):
            if buffer is not None:
                owner._buffers[name] = _fake_like(buffer, mode, device)
    return module


def _fake_like(tensor: torch.Tensor, mode: FakeTensorMode, device: str) -> torch.Tensor:
    with mode:
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=device)


def storage_bytes(tensors: Any) -> int:
    """Bytes of the distinct storages among ``tensors`` (any nesting of lists, tuples and dicts),
    each rounded as the allocator rounds it."""
    storages = {
        id(storage): storage
        for storage in (t.untyped_storage() for t in tree_flatten(tensors)[0] if isinstance(t, torch.Tensor))
    }
    return sum(allocated_bytes(storage.nbytes()) for storage in storages.values())


class LiveBytes(TorchDispatchMode):
    """Inside the block: the bytes of every storage an op creates, alive until Python frees it, and the
    highest that sum reaches (``peak``). Storages that existed before the block (weights, optimizer
    state, the batch) are not counted: add them (:func:`storage_bytes`)."""

    def __init__(self) -> None:
        super().__init__()
        self._counted: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.live = 0
        self.peak = 0

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            if storage in self._counted or _is_input(storage, args, kwargs):
                continue
            nbytes = allocated_bytes(storage.nbytes())
            self._counted[storage] = nbytes
            self.live += nbytes
            weakref.finalize(storage, self._free, nbytes)
            self.peak = max(self.peak, self.live)
        return out


def _is_input(storage: torch.UntypedStorage, args: Any, kwargs: Any) -> bool:
    """An in-place op or a view returns a storage it was given: nothing new was allocated."""
    return any(
        isinstance(t, torch.Tensor) and t.untyped_storage() is storage
        for t in tree_flatten((args, kwargs or {}))[0]
    )
