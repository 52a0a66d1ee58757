"""The command that builds the pretrained toy TANGO and toy CLAP shipped in ``toy/pretrained``: stage
0 of the toy loop at its full size, seed 0, two threads (bit for bit on the same machine)::

    python -m baton_tta.toy.build_pretrained --output_dir src/baton_tta/toy/pretrained
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from diffusers import DiffusionPipeline

from baton_tta.scoped import torch_threads
from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.pretrained import PRETRAINED_DIR, save_toy_clap, toy_tango_path
from baton_tta.toy.stages import fit_toy_clap, pretrain_toy_tango


def build_pretrained(output_dir: str | Path, seed: int = 0, threads: int = 2) -> Path:
    """``output_dir/toy-tango`` and ``output_dir/toy-clap`` from stage 0
    (:func:`~baton_tta.toy.stages.pretrain_toy_tango`, :func:`~baton_tta.toy.stages.fit_toy_clap`)."""
    with torch_threads(threads):
        return _build(Path(output_dir), seed, threads)


def _build(output_dir: Path, seed: int, threads: int) -> Path:
    config = ToyLoopConfig(seed=seed, threads=threads)
    pipeline = pretrain_toy_tango(config, output_dir / "build" / "base-run")
    # diffusers' plain save: the package's own class loads it, no copy of pipeline_tango.py to ship
    DiffusionPipeline.save_pretrained(pipeline, toy_tango_path(output_dir))
    clap, extractor = fit_toy_clap(config)
    save_toy_clap(clap, extractor, output_dir)
    return output_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the pretrained toy TANGO and toy CLAP.")
    parser.add_argument("--output_dir", default=str(PRETRAINED_DIR))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"written to {build_pretrained(args.output_dir, args.seed, args.threads)}")


if __name__ == "__main__":
    main()
