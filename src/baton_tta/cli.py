"""``baton-tta`` command line: the offline demo and small utilities around the library.

``baton-tta generate`` renders captions with a TangoPipeline (a saved folder, a Hub id, or the built-in
tiny pipeline) and writes one WAV per clip, so a fresh clone can check its installation in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf
import torch

from baton_tta.pipelines.pipeline_tango import TangoPipeline

logger = logging.getLogger("baton_tta")
TINY_PIPELINE = "tiny"
DEFAULT_PROMPTS = ["A dog barks followed by a car horn", "Rain falls while a man speaks"]


def load_pipeline(name_or_path: str, seed: int = 0) -> TangoPipeline:
    """``"tiny"`` builds the offline tiny pipeline; anything else goes to ``from_pretrained``."""
    if name_or_path == TINY_PIPELINE:
        from baton_tta.testing import tiny_tango_pipeline

        return tiny_tango_pipeline(seed=seed)
    return TangoPipeline.from_pretrained(name_or_path)


def clip_filename(index: int, prompt: str, clip: int) -> str:
    """``003_a-dog-barks_1.wav``: sortable, readable, safe on every filesystem."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "clip"
    return f"{index:03d}_{slug}_{clip}.wav"


def generate(
    prompts: Sequence[str],
    output_dir: str | Path,
    pipeline: str = TINY_PIPELINE,
    audio_length_in_s: float = 2.0,
    num_inference_steps: int = 25,
    guidance_scale: float = 3.0,
    num_waveforms_per_prompt: int = 1,
    seed: int = 0,
) -> list[Path]:
    """Generate clips for ``prompts`` and write them as 16-bit WAV files plus a ``clips.jsonl``
    manifest (prompt, file, seed, pipeline) into ``output_dir``."""
    pipe = load_pipeline(pipeline, seed=seed)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with open(output_dir / "clips.jsonl", "w", encoding="utf-8") as manifest:
        for index, prompt in enumerate(prompts):
            generator = torch.Generator().manual_seed(seed + index)
            audios = pipe(
                prompt,
                audio_length_in_s=audio_length_in_s,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                num_waveforms_per_prompt=num_waveforms_per_prompt,
                generator=generator,
            ).audios
            for clip, audio in enumerate(audios):
                path = output_dir / clip_filename(index, prompt, clip)
                sf.write(path, audio, pipe.sampling_rate, subtype="PCM_16")
                record = {"prompt": prompt, "file": path.name, "seed": seed + index, "pipeline": pipeline}
                manifest.write(json.dumps(record) + "\n")
                written.append(path)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baton-tta", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="render captions to WAV files")
    gen.add_argument("--prompt", action="append", dest="prompts", help="caption (repeatable)")
    gen.add_argument("--pipeline", default=TINY_PIPELINE, help="'tiny', a pipeline folder or a Hub id")
    gen.add_argument("--output-dir", default="outputs/demo")
    gen.add_argument("--audio-length", type=float, default=2.0, help="seconds per clip")
    gen.add_argument("--steps", type=int, default=25, help="denoising steps")
    gen.add_argument("--guidance-scale", type=float, default=3.0)
    gen.add_argument("--clips-per-prompt", type=int, default=1)
    gen.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        start = time.perf_counter()
        paths = generate(
            args.prompts or DEFAULT_PROMPTS,
            args.output_dir,
            pipeline=args.pipeline,
            audio_length_in_s=args.audio_length,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            num_waveforms_per_prompt=args.clips_per_prompt,
            seed=args.seed,
        )
        for path in paths:
            print(path)
        logger.info("wrote %d clip(s) in %.1f s", len(paths), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
