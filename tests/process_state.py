"""What a test may change process-wide, snapshotted before each test and restored after it.

A command run in-process (``baton_tta.cli.main([...])``) shares the interpreter with every test that a
pytest-xdist worker runs after it. Anything it leaves changed — a logger's level, an environment
variable, torch's thread count — silently changes the tests that follow, so the suite's verdict would
depend on the order tests happen to run in. The repository's ``conftest.py`` snapshots this state
before each test, restores it afterwards, and fails the test that leaked (random number generators and
dynamo's caches are restored silently: seeding and compiling are what tests do)."""

from __future__ import annotations

import logging
import os
import random
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: set by pytest itself for each phase of a test
PYTEST_OWN_VARIABLES = {"PYTEST_CURRENT_TEST"}


def _ours(handler: logging.Handler) -> bool:
    """pytest attaches its own capture handlers to the root logger around each phase of a test."""
    return not type(handler).__module__.startswith("_pytest")


@dataclass
class LoggerState:
    level: int
    propagate: bool
    disabled: bool
    handlers: list[logging.Handler]

    @classmethod
    def of(cls, logger: logging.Logger) -> LoggerState:
        return cls(logger.level, logger.propagate, logger.disabled, [h for h in logger.handlers if _ours(h)])

    def restore(self, logger: logging.Logger) -> None:
        logger.setLevel(self.level)
        logger.propagate, logger.disabled = self.propagate, self.disabled
        theirs = [h for h in logger.handlers if not _ours(h)]
        logger.handlers[:] = [*self.handlers, *theirs]


#: loggers a library manages itself while it runs (``torch._logging`` re-attaches its trace handler
#: whenever dynamo compiles; uvicorn installs fresh handlers each time a server starts, the annotation
#: app's): not a command's doing
SELF_MANAGED_LOGGERS = ("torch", "uvicorn")


def _loggers() -> dict[str, logging.Logger]:
    found = {
        name: logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.split(".")[0] not in SELF_MANAGED_LOGGERS
    }
    return {"<root>": logging.getLogger(), **found}


def _registries() -> dict[str, dict]:
    """The registries a plug-in or a test may add to (imported only once something imported them)."""
    tables = {
        "families": ("baton_tta.families.registry", "FAMILIES"),
        "objectives": ("baton_tta.trainer.objectives", "OBJECTIVES"),
        "scorers": ("baton_tta.scorers.registry", "SCORER_KINDS"),
    }
    return {
        name: getattr(sys.modules[module], attribute)
        for name, (module, attribute) in tables.items()
        if module in sys.modules
    }


def _progress_bars() -> dict[str, bool]:
    """Library-wide progress-bar switches (``datasets.disable_progress_bars()`` and the like)."""
    switches: dict[str, bool] = {}
    if "datasets" in sys.modules:
        from datasets.utils import logging as datasets_logging

        switches["datasets"] = datasets_logging.is_progress_bar_enabled()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled

        switches["huggingface_hub"] = not are_progress_bars_disabled()
    return switches


def _set_progress_bars(switches: dict[str, bool]) -> None:
    if "datasets" in switches:
        from datasets.utils import logging as datasets_logging

        (
            datasets_logging.enable_progress_bar
            if switches["datasets"]
            else datasets_logging.disable_progress_bar
        )()
    if "huggingface_hub" in switches:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        (enable_progress_bars if switches["huggingface_hub"] else disable_progress_bars)()


class ProcessState:
    """One snapshot; :meth:`restore` puts it back and returns what had changed (empty: nothing)."""

    def __init__(self) -> None:
        self.loggers = {name: LoggerState.of(logger) for name, logger in _loggers().items()}
        self.environ = dict(os.environ)
        self.cwd = os.getcwd()
        self.threads = torch.get_num_threads()
        self.dtype = torch.get_default_dtype()
        self.grad = torch.is_grad_enabled()
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        self.registries = {name: dict(table) for name, table in _registries().items()}
        self.progress_bars = _progress_bars()
        self.rng: tuple[Any, ...] = (torch.get_rng_state(), np.random.get_state(), random.getstate())

    def restore(self) -> list[str]:
        leaks = []
        leaks += self._restore_loggers()
        leaks += self._restore_environ()
        if os.getcwd() != self.cwd:
            leaks.append(f"current directory {self.cwd} -> {os.getcwd()}")
            os.chdir(self.cwd)
        torch_settings = [
            ("torch threads", self.threads, torch.get_num_threads(), torch.set_num_threads),
            ("torch default dtype", self.dtype, torch.get_default_dtype(), torch.set_default_dtype),
            ("torch grad mode", self.grad, torch.is_grad_enabled(), torch.set_grad_enabled),
            (
                "torch deterministic algorithms",
                self.deterministic,
                torch.are_deterministic_algorithms_enabled(),
                torch.use_deterministic_algorithms,
            ),
        ]
        for what, before, now, setter in torch_settings:
            if now != before:
                leaks.append(f"{what} {before} -> {now}")
                setter(before)
        leaks += self._restore_registries()
        if _progress_bars() != self.progress_bars:
            leaks.append(f"progress bars {self.progress_bars} -> {_progress_bars()}")
            _set_progress_bars(self.progress_bars)
        torch.set_rng_state(self.rng[0])
        np.random.set_state(self.rng[1])
        random.setstate(self.rng[2])
        if "torch._dynamo" in sys.modules:
            torch._dynamo.reset()
        return leaks

    def _restore_loggers(self) -> list[str]:
        leaks = []
        now = _loggers()
        for name, before in self.loggers.items():
            after = LoggerState.of(now[name])
            if after != before:
                leaks.append(f"logger {name!r}: {before} -> {after}")
                before.restore(now[name])
        return leaks

    def _restore_environ(self) -> list[str]:
        keys = (self.environ.keys() | os.environ.keys()) - PYTEST_OWN_VARIABLES
        changed = sorted(k for k in keys if self.environ.get(k) != os.environ.get(k))
        for key in changed:
            if key in self.environ:
                os.environ[key] = self.environ[key]
            else:
                del os.environ[key]
        return [f"environment variable {k} (set, changed or removed)" for k in changed]

    def _restore_registries(self) -> list[str]:
        leaks = []
        for name, table in _registries().items():
            before = self.registries.get(name)
            if before is None:  # first imported during this test: its built-ins are not a leak
                continue
            if table != before:
                leaks.append(f"registry {name}: {sorted(before)} -> {sorted(table)}")
                table.clear()
                table.update(before)
        return leaks
