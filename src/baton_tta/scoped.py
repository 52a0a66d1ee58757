"""Process-wide settings a command changes for its own run only.

Commands also run in-process (tests, notebooks, the lab's scripts calling each other), so a logger
level or torch's thread count set for one command must end with it, or it silently changes what runs
next in the same interpreter."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

#: libraries whose INFO chatter buries a command's own progress lines
CHATTY_LIBRARIES = ("httpx", "datasets", "transformers", "diffusers")


@contextmanager
def quiet_loggers(names: Iterable[str] = CHATTY_LIBRARIES, level: int = logging.WARNING) -> Iterator[None]:
    """Raise the named loggers to ``level`` inside the block; their own levels come back after."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count inside the block (the same count gives the same sums)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
