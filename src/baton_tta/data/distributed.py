"""Every process does its share: the batches of a stage split between the processes ``accelerate
launch`` started, results gathered back in order, files written once.

The unit of work is a *batch of the one-process run*: the items are cut into batches first and whole
batches are dealt to the processes (contiguous, as ``PartialState.split_between_processes`` does), so
each model call sees exactly the inputs it sees in one process and N processes produce the same clips
and scores, byte for byte, as one (with the same threads per process). ``gather_in_order`` puts the
per-process results back in batch order; everything else runs on the main process between barriers.
Without a launcher there is one process and every helper is a no-op.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: True while the main process runs an ``on_main`` section: the helpers then act as one process (the
#: others wait at the section's end, so a collective inside it would never return)
_SOLO = False


def process_state() -> PartialState:
    """The shared process state; on a machine without an accelerator, CPU processes talk over gloo."""
    return PartialState(cpu=not torch.cuda.is_available())


@atexit.register
def _close_process_group() -> None:
    """Destroy the process group before the interpreter tears down: a gloo group left to its
    destructor at exit aborts a rank now and then ("terminate called without an active exception",
    SIGABRT; 1 run in 6 here), and the launcher reports the whole run failed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        try:  # every rank done with the group first (bounded: a dead rank must not hang the exit)
            if torch.distributed.get_backend() == "gloo":
                torch.distributed.monitored_barrier(timeout=timedelta(seconds=60))
        except RuntimeError:
            logger.warning("a process did not reach the exit barrier; closing the process group anyway")
        torch.distributed.destroy_process_group()


def is_main_process() -> bool:
    return process_state().is_main_process


def _num_processes() -> int:
    return 1 if _SOLO else process_state().num_processes


def batches(items: Sequence[T], batch_size: int) -> list[list[T]]:
    return [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def my_batches(items: Sequence[T], batch_size: int, what: str = "items") -> list[list[T]]:
    """This process's whole batches of ``items`` (all of them with one process); with several
    processes each logs its share ("process 1 of 2: 4 of 9 prompts")."""
    everything = batches(items, batch_size)
    if _num_processes() == 1:
        return everything
    state = process_state()
    with state.split_between_processes(everything) as mine:
        mine = list(mine)
    count = sum(len(batch) for batch in mine)
    logger.info(
        "process %d of %d: %d of %d %s", state.process_index, state.num_processes, count, len(items), what
    )
    return mine


def gather_in_order(local: list[T]) -> list[T]:
    """Every process's ``local`` results concatenated in process order (= batch order)."""
    if _num_processes() == 1:
        return local
    return list(gather_object(local))


def wait_for_everyone() -> None:
    if _num_processes() > 1:
        process_state().wait_for_everyone()


def on_main(work: Callable[[], T]) -> T:
    """Run ``work`` on the main process only and hand its result (picklable) to every process; an
    exception on the main process is raised on every process, so none waits forever. Inside
    ``work`` the other helpers act as one process (a shared stage called there does all of it)."""
    global _SOLO
    if _num_processes() == 1:
        return work()
    payload: list[Any] = [None]
    if process_state().is_main_process:
        _SOLO = True
        try:
            payload = [("ok", work())]
        except BaseException as error:  # re-raised below, on every process
            payload = [("error", error)]
        finally:
            _SOLO = False
    broadcast_object_list(payload, from_process=0)
    kind, value = payload[0]
    if kind == "error":
        raise value
    return value
