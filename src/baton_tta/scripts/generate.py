"""``baton-tta generate``: render captions to WAV files with a pipeline of any family (a folder, a Hub id or
a built-in ``tiny-random*`` one), to listen to a model or check an install in seconds.

    baton-tta generate --pipeline tiny-random --prompts "A dog barks followed by a car horn" --output_dir outputs/demo
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from baton_tta.data.generation import clip_seed, render_clips
from baton_tta.families import family_of
from baton_tta.scripts.builtin import TINY, generating_pipeline
from baton_tta.scripts.utils import command, mixed_precision_field, parse, pipeline_field

DEFAULT_PROMPTS = ["A dog barks followed by a car horn", "Rain falls while a man speaks"]


@dataclass
class GenerateArguments:
    prompts: list[str] = field(
        default_factory=lambda: list(DEFAULT_PROMPTS), metadata={"help": "Captions to render."}
    )
    pipeline_name_or_path: str = pipeline_field(TINY)
    output_dir: str = field(default="outputs/demo", metadata={"help": "WAV files and clips.jsonl go here."})
    audio_length_in_s: float = field(default=2.0, metadata={"help": "Seconds per clip."})
    num_inference_steps: int = field(default=25, metadata={"help": "Denoising steps."})
    guidance_scale: float = field(default=3.0, metadata={"help": "Classifier-free guidance."})
    clips_per_prompt: int = field(default=1, metadata={"help": "Clips per caption."})
    seed: int = field(default=0, metadata={"help": "Base seed; clip seed = seed + prompt_index * N + k."})
    mixed_precision: str | None = mixed_precision_field()


#: prompts rendered by one pipeline call (each with all its clips)
PROMPTS_PER_CALL = 4


def clip_filename(index: int, prompt: str, clip: int) -> str:
    """``003_a-dog-barks_1.wav``: sortable, readable, safe on every filesystem."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "clip"
    return f"{index:03d}_{slug}_{clip}.wav"


def generate(args: GenerateArguments) -> list[Path]:
    """Write one 16-bit WAV per clip plus a ``clips.jsonl`` manifest (prompt, file, seed, pipeline)."""
    pipe, precision = generating_pipeline(args.pipeline_name_or_path, args.mixed_precision, seed=args.seed)
    rate = family_of(pipe).sampling_rate
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    n = args.clips_per_prompt
    seeds = [[clip_seed(args.seed, i, k, n) for k in range(n)] for i in range(len(args.prompts))]
    written = []
    with open(output_dir / "clips.jsonl", "w", encoding="utf-8") as manifest:
        for positions, audios in render_clips(
            pipe,
            args.prompts,
            seeds,
            PROMPTS_PER_CALL,
            args.audio_length_in_s,
            args.num_inference_steps,
            args.guidance_scale,
            mixed_precision=precision,
        ):
            for offset, audio in enumerate(audios):
                index, clip = positions[offset // n], offset % n
                path = output_dir / clip_filename(index, args.prompts[index], clip)
                sf.write(path, audio, rate, subtype="PCM_16")
                record = {
                    "prompt": args.prompts[index],
                    "file": path.name,
                    "seed": seeds[index][clip],
                    "pipeline": args.pipeline_name_or_path,
                    "mixed_precision": precision,
                }
                manifest.write(json.dumps(record) + "\n")
                written.append(path)
    return written


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((GenerateArguments,), argv)
    paths = generate(args)
    print(f"{len(paths)} clip(s) written to {Path(args.output_dir).resolve()}")


if __name__ == "__main__":
    main()
