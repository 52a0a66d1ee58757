"""What every command does the same way: logging, parsing (``TrlParser``), repo ids."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import field
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


#: the ``help`` of every command's pipeline argument
PIPELINE_HELP = (
    "Pipeline of any supported family (TANGO, AudioLDM 2, Stable Audio Open, Stable Audio 3): a folder, "
    "a Hub id or a built-in tiny name."
)


def pipeline_field(default: str) -> Any:
    """The ``--pipeline_name_or_path`` argument (alias ``--pipeline``) of the generating commands."""
    return field(default=default, metadata={"help": PIPELINE_HELP, "aliases": ["--pipeline"]})
