"""``baton-tta build-eval-sets``: integrity (2 events) and temporal (3 events) prompt sets from an
AudioCaps-format captions CSV, as the paper's test sets.

    baton-tta build-eval-sets --captions_csv audiocaps_test.csv --output_dir outputs/eval_sets
    baton-tta build-eval-sets --captions_csv audiocaps_test.csv --integrity_size 148 --temporal_size 165 …
    baton-tta build-eval-sets --baton_integrity_json test_audiocaps_2label.json \
        --baton_temporal_json test_audiocaps_3label.json --output_dir baton_eval_sets   # the paper's 148 / 165
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.eval_sets import build_eval_sets, official_eval_set
from baton_tta.scripts.utils import command, parse


@dataclass
class EvalSetArguments:
    output_dir: str = field(
        metadata={"help": "Writes integrity/ and temporal/ (save_to_disk) and .csv copies."}
    )
    captions_csv: str | None = field(
        default=None,
        metadata={"help": "AudioCaps-format CSV (audiocap_id,youtube_id,start_time,caption) to split."},
    )
    integrity_size: int | None = field(
        default=None,
        metadata={"help": "Draw this many integrity captions from --captions_csv (paper: 148); default all."},
    )
    temporal_size: int | None = field(
        default=None,
        metadata={"help": "Draw this many temporal captions from --captions_csv (paper: 165); default all."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the draw."})
    baton_integrity_json: str | None = field(
        default=None,
        metadata={"help": "The BATON release's test_audiocaps_2label.json (the paper's 148 captions)."},
    )
    baton_temporal_json: str | None = field(
        default=None,
        metadata={"help": "The BATON release's test_audiocaps_3label.json (the paper's 165 captions)."},
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((EvalSetArguments,), argv)
    output = Path(args.output_dir)
    subsets = {}
    if args.captions_csv:
        sizes = {"integrity": args.integrity_size, "temporal": args.temporal_size}
        subsets["integrity"], subsets["temporal"], report = build_eval_sets(
            args.captions_csv, sizes=sizes, seed=args.seed
        )
        print(report.describe())
    for task, path in (("integrity", args.baton_integrity_json), ("temporal", args.baton_temporal_json)):
        if path:
            subsets[task] = official_eval_set(path, task)
            print(f"{path}: {len(subsets[task])} {task} captions (ids: clip_id)")
    if not subsets:
        raise SystemExit("give --captions_csv, or --baton_integrity_json / --baton_temporal_json")
    for name, subset in subsets.items():
        subset.save_to_disk(str(output / name))
        subset.to_csv(str(output / f"{name}.csv"), index=False)
    print(f"evaluation sets written to {output.resolve()}/{{{','.join(subsets)}}}")


if __name__ == "__main__":
    main()
