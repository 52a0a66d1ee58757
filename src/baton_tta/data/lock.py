"""One run per output folder: a lock file naming its holder.

Two ``--resume_from_checkpoint last`` on one folder both trained and wrote checkpoints, and two
identical ``generate-audio`` runs both generated everything until one crashed on the other's
``*.tmp`` rename. A run now holds ``<output_dir>/.baton-run.lock`` (its PID, host and start time,
created atomically); a second run is refused with the holder's PID. A lock whose process is gone
(same host, PID not alive) is stale: it is replaced, and the log says so. Under ``accelerate
launch`` the main process holds it for the run.

Every command takes the lock of its ``--output_dir`` as soon as its arguments are parsed
(:func:`baton_tta.scripts.utils.parse`), before anything is written, and gives it back when the
command ends (:func:`released_when_done`, around every command's ``main``: :func:`baton_tta.scripts.utils.command`): a second
``train-online`` on a live folder wrote 17 reward-cache files before it was refused, and two labelling
runs on one folder both ran.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)
LOCK_FILE = ".baton-run.lock"

#: the locks each running command took, and whether it created their folder (innermost last)
_TAKEN: list[list[tuple[Path, bool]]] = []


class OutputFolderInUse(RuntimeError):
    """Another live run holds the folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire(folder: str | os.PathLike) -> Path:
    """Take ``folder``'s lock (creating the folder) or raise :class:`OutputFolderInUse`; the lock is
    released by :func:`release` or when this process exits."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                other = {}
            if other.get("pid") == os.getpid() and other.get("host") == holder["host"]:
                return path  # this process holds it already (a trainer after a generation step)
            if other.get("host") == holder["host"] and not _alive(int(other.get("pid", -1))):
                logger.warning(
                    "%s: replacing a stale lock of PID %s (no such process)", path, other.get("pid")
                )
                path.unlink(missing_ok=True)
                continue
            raise OutputFolderInUse(
                f"{folder} is in use by PID {other.get('pid')} on {other.get('host')} (since "
                f"{other.get('started')}): wait for that run, use another output_dir, or remove {path} "
                "if that process is gone"
            ) from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(holder, handle)
        atexit.register(release, path)
        if _TAKEN:
            _TAKEN[-1].append((path, created))
        return path
    raise OutputFolderInUse(f"{folder}: could not take {path}")


def release(path: str | os.PathLike) -> None:
    """Remove the lock if this process holds it."""
    path = Path(path)
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if holder.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def released_when_done() -> Iterator[None]:
    """Give back, when the block ends, every lock taken inside it; a folder made only to hold a lock
    (the command was refused before writing anything) is removed again."""
    _TAKEN.append([])
    try:
        yield
    finally:
        for path, created in _TAKEN.pop():
            release(path)
            if created and path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()


def is_main_process() -> bool:
    """Whether this is the process that holds a run's folder: the only one, or rank 0 of an
    ``accelerate launch`` (read from its environment: no process group is needed to know)."""
    return int(os.environ.get("RANK", "0")) == 0


def refuse_another_runs_results(
    folder: str | os.PathLike, results: tuple[str, ...], overwrite: bool, overwrite_flag: str
) -> None:
    """Refuse ``folder`` when it holds any of another run's ``results`` (a model trained on other data
    must not be replaced silently); with ``overwrite`` they are deleted first, and the log says so."""
    found = [name for name in results if (Path(folder) / name).exists()]
    if not found:
        return
    if not overwrite:
        raise FileExistsError(
            f"{folder} holds another run's results ({', '.join(found)}); use a new output_dir, or "
            f"replace them with {overwrite_flag}"
        )
    logger.info("%s: replacing another run's %s", overwrite_flag, ", ".join(found))
    for name in found:
        (Path(folder) / name).unlink()
