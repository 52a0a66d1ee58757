"""Will it fit? Peak device memory and FLOPs of a training step, measured on fake tensors at a
family's published size, on a CPU, before a GPU is rented (``baton-tta estimate``)."""

from baton_tta.estimate.measure import MemoryEstimate
from baton_tta.estimate.report import CARDS, fits, needed_gib
from baton_tta.estimate.training import estimate_training_step

__all__ = ["CARDS", "MemoryEstimate", "estimate_training_step", "fits", "needed_gib"]
