"""``baton-tta build-eval-sets``: integrity (2 events) and temporal (3 events) prompt sets from an
AudioCaps-format captions CSV, as the paper's test sets.

    baton-tta build-eval-sets --captions_csv audiocaps_test.csv --output_dir outputs/eval_sets
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.eval_sets import build_eval_sets
from baton_tta.scripts.utils import parse


@dataclass
class EvalSetArguments:
    captions_csv: str = field(metadata={"help": "CSV with audiocap_id,youtube_id,start_time,caption."})
    output_dir: str = field(
        metadata={"help": "Writes integrity/ and temporal/ (save_to_disk) and .csv copies."}
    )


def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((EvalSetArguments,), argv)
    integrity, temporal, report = build_eval_sets(args.captions_csv)
    output = Path(args.output_dir)
    for name, subset in (("integrity", integrity), ("temporal", temporal)):
        subset.save_to_disk(str(output / name))
        subset.to_csv(str(output / f"{name}.csv"), index=False)
    print(report.describe())
    print(f"evaluation sets written to {output.resolve()}/{{integrity,temporal}}")


if __name__ == "__main__":
    main()
