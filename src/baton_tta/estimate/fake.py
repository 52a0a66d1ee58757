"""Models at their published size without their memory: parameters swapped for fake tensors, and a
count of the bytes a device would hold while code runs on them.

A fake tensor (``torch._subclasses.fake_tensor``) has a shape, a dtype, a device and strides but no
data; every op on it computes only the output's metadata. Running a training step on fake tensors
therefore allocates nothing, yet each op's outputs, their lifetimes (views share a storage, saved
activations live until backward frees them) and their dtypes (autocast included) are exactly those of
a real run of the same code. :class:`StepCounter` watches every op's outputs and adds up their storages,
rounded as the CUDA caching allocator rounds a request (512 bytes), until Python frees them.

What it cannot see (and :mod:`baton_tta.estimate.report` adds a margin for): the allocator's
fragmentation and cached free blocks, cuDNN / cuBLAS workspaces, NCCL buffers and the CUDA context."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils import flop_counter
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


#: FLOPs of the ops that do the work, by op: torch's own formulas (``torch.utils.flop_counter``), with
#: the CPU kernels of flash attention (what fake tensors on a CPU dispatch to) counted as the GPU's
FLOP_FORMULAS = {
    **flop_counter.flop_registry,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: flop_counter.flop_registry[
        torch.ops.aten._scaled_dot_product_flash_attention
    ],
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: flop_counter.flop_registry[
        torch.ops.aten._scaled_dot_product_flash_attention_backward
    ],
}


class StepCounter(TorchDispatchMode):
    """Inside the block: the bytes of every storage an op creates or grows (``resize_``), alive until
    it is freed, the highest that sum reaches (``peak``), and the FLOPs of the ops that do the work.
    Storages that existed before the block (weights, optimizer state, the batch) are not counted: add
    them (:func:`storage_bytes`).

    One mode for both on purpose: ``FlopCounterMode`` tracks modules with hooks whose closures keep
    activations in reference cycles, so a step's count under it depended on when Python's cycle
    collector ran (up to twice the count without it)."""

    def __init__(self) -> None:
        super().__init__()
        self._counted: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.live = 0
        self.peak = 0
        self.flops = 0

    def _free(self, counted: list[int]) -> None:
        self.live -= counted[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func._overloadpacket not in FLOP_FORMULAS and func is not torch.ops.prim.device.default:
            # a composite op (``linear``, ``scaled_dot_product_attention`` under inference mode) reaches
            # the mode whole: counted as the ops it runs, as the device runs it
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        formula = FLOP_FORMULAS.get(func._overloadpacket)
        if formula is not None:
            self.flops += int(formula(*args, **kwargs, out_val=out))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                self._count(tensor.untyped_storage(), args, kwargs)
        self.peak = max(self.peak, self.live)
        return out

    def _count(self, storage: torch.UntypedStorage, args: Any, kwargs: Any) -> None:
        nbytes = allocated_bytes(storage.nbytes())
        counted = self._counted.get(storage)
        if counted is not None:  # grown in place (``resize_``, an ``out=`` op)?
            self.live += max(0, nbytes - counted[0])
            counted[0] = max(counted[0], nbytes)
        elif not _is_input(storage, args, kwargs):  # an input's storage existed before the block
            counted = [nbytes]
            self._counted[storage] = counted
            self.live += nbytes
            weakref.finalize(storage, self._free, counted)


def _is_input(storage: torch.UntypedStorage, args: Any, kwargs: Any) -> bool:
    """An in-place op or a view returns a storage it was given: nothing new was allocated."""
    return any(
        isinstance(t, torch.Tensor) and t.untyped_storage() is storage
        for t in tree_flatten((args, kwargs or {}))[0]
    )
