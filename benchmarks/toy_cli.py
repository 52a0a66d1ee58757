"""What every toy-world benchmark script shares: offline by default, the flags that fix a table
(output folder, smoke size, thread count), quiet library logging, and the printed report (the
Markdown table, the data and the seconds per stage, the total and the files written).

Imported by ``benchmarks/toy_*.py`` before ``baton_tta`` (it sets ``HF_HUB_OFFLINE`` first).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from baton_tta.scoped import CHATTY_LIBRARIES, quiet_loggers

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def toy_parser(doc: str | None, output_dir: str) -> argparse.ArgumentParser:
    """A parser with ``--output_dir``, ``--smoke`` and ``--threads``; scripts add their own flags."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=output_dir)
    parser.add_argument(
        "--smoke", action="store_true", help="Seconds-long run that only checks the plumbing."
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (part of what fixes the table)")
    return parser


@contextmanager
def quiet_logging() -> Iterator[None]:
    """Our progress at INFO, the libraries' chatter at WARNING, for the script's run only (a test may
    run it as ``__main__`` in its own process: the levels come back after)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with quiet_loggers(CHATTY_LIBRARIES):
        yield


def report(
    markdown: str,
    paths: Mapping[str, Path],
    seconds: Mapping[str, float],
    started: float,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Print the table, the data and the seconds per stage, and the total since ``started``."""
    print()
    print(markdown)
    print()
    if data is not None:
        print("data:", ", ".join(f"{k} {v}" for k, v in data.items()))
    print("seconds per stage:", ", ".join(f"{k} {v}" for k, v in seconds.items()))
    print(f"total {time.perf_counter() - started:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")
