"""``baton-tta make-prompts``: BATON stage 1 captions from 2 (integrity) or 3 (temporal) AudioSet labels.

baton-tta make-prompts --labels_file class_labels_indices.csv --top_k 200 --output_dir outputs/prompts
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.prompts import (
    LLMCaptionGenerator,
    TemplateCaptionGenerator,
    build_prompts,
    load_vocabulary,
    read_phrase_table,
)
from baton_tta.scripts.utils import command, parse


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
    conjunctions: str = field(
        default="paper",
        metadata={
            "help": "'paper': one conjunction list for both tasks, as the paper; 'per_task': order words "
            "only in temporal captions, simultaneity words only in integrity ones."
        },
    )
    phrase_file: str | None = field(
        default=None,
        metadata={
            "help": "display_name,clause,noun_phrase,verb CSV saying how each label reads; default: the "
            "shipped table for the top 200 AudioCaps labels."
        },
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((MakePromptsArguments,), argv)
    labels = load_vocabulary(args.labels_file, args.frequency_file, args.top_k)
    phrases = read_phrase_table(args.phrase_file) if args.phrase_file else None
    template = TemplateCaptionGenerator(conjunctions=args.conjunctions, phrases=phrases)
    generator = LLMCaptionGenerator(args.llm_model, fallback=template) if args.llm_model else template
    prompts = build_prompts(
        labels, args.num_integrity, args.num_temporal, seed=args.seed, generator=generator
    )
    output = Path(args.output_dir)
    prompts.save_to_disk(str(output))
    prompts.to_json(str(output / "prompts.jsonl"))
    print(f"{len(prompts)} prompts written to {output.resolve()} (and prompts.jsonl)")


if __name__ == "__main__":
    main()
