"""What every command does the same way: logging, parsing (``TrlParser``), repo ids."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import TrlParser


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def parse(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Dataclasses from ``--flags`` and an optional ``--config`` YAML (flags win)."""
    configure_logging()
    parser = TrlParser(tuple(dataclass_types))
    return tuple(parser.parse_args_and_config(args=None if argv is None else list(argv)))


def default_repo_id(explicit: str | None, output_dir: str | Path) -> str:
    """``--hub_*_id`` if given, else the output folder's name (as ``Trainer`` does)."""
    return explicit or Path(output_dir).absolute().name
