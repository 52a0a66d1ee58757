"""Stage 1: build BATON captions from AudioSet label groups.

    python datasets_scripts/make_prompts.py --labels_file class_labels_indices.csv --top_k 200 \
        --num_integrity 300 --num_temporal 300 --output_dir data/prompts [--llm_model path/to/local-llm]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.prompts import LLMCaptionGenerator, build_prompts, load_vocabulary


@dataclass
class MakePromptsArguments:
    labels_file: str = field(
        metadata={"help": "AudioSet index,mid,display_name CSV or a one-label-per-line list."}
    )
    output_dir: str = field(
        metadata={"help": "Where to save the prompt dataset (save_to_disk) and prompts.jsonl."}
    )
    frequency_file: str | None = field(default=None, metadata={"help": "label,count file to rank labels."})
    top_k: int | None = field(
        default=None, metadata={"help": "Keep the k most frequent labels (BATON: 200)."}
    )
    num_integrity: int = field(default=100, metadata={"help": "2-label captions (events heard together)."})
    num_temporal: int = field(default=100, metadata={"help": "3-label captions (events in order)."})
    seed: int = field(default=0, metadata={"help": "Seed of label sampling and conjunction choice."})
    llm_model: str | None = field(
        default=None, metadata={"help": "Local text-generation model; default: templates."}
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(MakePromptsArguments).parse_args_into_dataclasses()
    labels = load_vocabulary(args.labels_file, args.frequency_file, args.top_k)
    generator = LLMCaptionGenerator(args.llm_model) if args.llm_model else None
    prompts = build_prompts(
        labels, args.num_integrity, args.num_temporal, seed=args.seed, generator=generator
    )
    prompts.save_to_disk(args.output_dir)
    prompts.to_json(f"{args.output_dir}/prompts.jsonl")
    logging.getLogger("make_prompts").info("wrote %d prompts to %s", len(prompts), args.output_dir)


if __name__ == "__main__":
    main()
