"""``baton-tta generate-audio``: BATON stage 1 clips, N per prompt (paper: 5), resumable.

    baton-tta generate-audio --prompts outputs/prompts --pipeline you/tango-diffusers --output_dir outputs/clips

Rerunning the same command after an interruption generates only the prompts that are not done yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from baton_tta.data.distributed import is_main_process
from baton_tta.data.generation import generate_clips
from baton_tta.data.loading import load_raw
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.scripts.builtin import TINY, generating_pipeline
from baton_tta.scripts.utils import command, default_repo_id, mixed_precision_field, parse, pipeline_field


@dataclass
class GenerateAudioArguments:
    prompts: str = field(metadata={"help": "Prompt dataset (make-prompts output folder, file or Hub id)."})
    output_dir: str = field(
        metadata={"help": "Shards, generation_config.json and the final dataset go here."}
    )
    pipeline_name_or_path: str = pipeline_field(TINY)
    clips_per_prompt: int = field(default=5, metadata={"help": "Clips per prompt (BATON: 5)."})
    prompts_per_batch: int = field(default=4, metadata={"help": "Prompts per pipeline call."})
    audio_length_in_s: float = field(default=10.0, metadata={"help": "Clip length in seconds."})
    num_inference_steps: int = field(default=200, metadata={"help": "Denoising steps (BATON: 200)."})
    guidance_scale: float = field(default=3.0, metadata={"help": "Classifier-free guidance (TANGO: 3)."})
    seed: int = field(default=0, metadata={"help": "Base seed; clip seed = seed + prompt_index * N + k."})
    audio_format: str = field(
        default="flac", metadata={"help": "'flac' or 'wav' bytes in the dataset.", "choices": ["flac", "wav"]}
    )
    device: str | None = field(
        default=None,
        metadata={
            "help": "torch device; default: this process's own (accelerate: cuda:<local rank> or cpu)."
        },
    )
    mixed_precision: str | None = mixed_precision_field()
    push_to_hub: bool = field(default=False, metadata={"help": "Push the clips with a dataset card."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Dataset repo id for --push_to_hub."})


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((GenerateAudioArguments,), argv)
    pipeline, precision = generating_pipeline(args.pipeline_name_or_path, args.mixed_precision, args.device)
    clips = generate_clips(
        load_raw(args.prompts),
        pipeline,
        args.output_dir,
        clips_per_prompt=args.clips_per_prompt,
        prompts_per_batch=args.prompts_per_batch,
        seed=args.seed,
        audio_length_in_s=args.audio_length_in_s,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        generator_name=args.pipeline_name_or_path,
        audio_format=args.audio_format,
        mixed_precision=precision,
    )
    if args.push_to_hub and is_main_process():
        push_preference_dataset(clips, default_repo_id(args.hub_dataset_id, args.output_dir))


if __name__ == "__main__":
    main()
