"""``baton-tta convert-laion-clap``: a LAION-CLAP ``.pt`` checkpoint → a transformers CLAP folder.

baton-tta convert-laion-clap --checkpoint 630k-audioset-best.pt --output_dir clap-630k-audioset
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.convert_laion_clap import convert_laion_clap
from baton_tta.scripts.utils import command, parse


@dataclass
class ConvertLaionClapArguments:
    checkpoint: str = field(metadata={"help": "LAION-CLAP .pt file (HTSAT-tiny/base, fused or not)."})
    output_dir: str = field(metadata={"help": "Where to write the ClapModel + ClapProcessor folder."})
    tokenizer_name_or_path: str = field(
        default="roberta-base", metadata={"help": "The RoBERTa tokenizer LAION-CLAP's text tower uses."}
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ConvertLaionClapArguments,), argv)
    report = convert_laion_clap(args.checkpoint, args.output_dir, args.tokenizer_name_or_path)
    print(f"{report.architecture}; {len(report.dropped)} LAION tensors dropped by design:")
    for reason in sorted(set(report.dropped.values())):
        count = sum(1 for value in report.dropped.values() if value == reason)
        print(f"  {count:4d}  {reason}")
    print(f"mel filter bank max |diff| vs ClapFeatureExtractor: {report.mel_filter_max_abs_diff}")
    print(f"ClapModel + ClapProcessor written to {Path(args.output_dir).resolve()}")


if __name__ == "__main__":
    main()
