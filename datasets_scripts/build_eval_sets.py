"""Evaluation prompt sets from AudioCaps-format captions: 2-event (integrity) and 3-event (temporal).

python datasets_scripts/build_eval_sets.py --captions_csv audiocaps_test.csv --output_dir data/eval_sets
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from baton_tta.data.eval_sets import build_eval_sets


@dataclass
class EvalSetArguments:
    captions_csv: str = field(metadata={"help": "CSV with audiocap_id,youtube_id,start_time,caption."})
    output_dir: str = field(
        metadata={"help": "Writes integrity/ and temporal/ (save_to_disk) and .csv copies."}
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(EvalSetArguments).parse_args_into_dataclasses()
    integrity, temporal, report = build_eval_sets(args.captions_csv)
    for name, subset in (("integrity", integrity), ("temporal", temporal)):
        subset.save_to_disk(str(Path(args.output_dir) / name))
        subset.to_csv(str(Path(args.output_dir) / f"{name}.csv"), index=False)
    print(report.describe())


if __name__ == "__main__":
    main()
