"""Wall time per stage, logged as each stage ends and kept for the result tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StageClock:
    """``clock("name", fn, *args)`` runs ``fn(*args)`` and records its seconds under ``name``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        value = fn(*args)
        self.seconds[stage] = round(time.perf_counter() - start, 1)
        logger.info("%s: %.1f s", stage, self.seconds[stage])
        return value
