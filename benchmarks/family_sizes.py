"""Every family's denoiser at its published size, on the meta device (no download, no memory):
parameters built from the published configuration beside the publisher's figure, and the LoRA
targets the family's defaults resolve to, with the adapter size at a given rank.

    .venv/bin/python benchmarks/family_sizes.py --lora_rank 16
"""

from __future__ import annotations

import argparse

from baton_tta.families import FAMILIES
from baton_tta.families.published import PUBLISHED, lora_targets, parameter_count


def lora_parameters(model, names: list[str], rank: int) -> int:
    """A·B per wrapped Linear: rank × (in + out)."""
    modules = dict(model.named_modules())
    return sum(rank * (modules[n].in_features + modules[n].out_features) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lora_rank", type=int, default=16)
    rank = parser.parse_args().lora_rank
    print(
        f"| family | checkpoint | denoiser | built | published | built / published | LoRA modules | "
        f"LoRA r={rank} | share |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name, published in PUBLISHED.items():
        model = published.build()
        built = parameter_count(model)
        targets = lora_targets(model, FAMILIES[name].lora_target_modules)
        adapter = lora_parameters(model, targets, rank)
        print(
            f"| {FAMILIES[name].display_name} | `{published.checkpoint}` | {published.model_class.__name__} | "
            f"{built / 1e6:.1f} M | {published.published_parameters / 1e6:.1f} M | "
            f"{built / published.published_parameters:.3f} | {len(targets)} | {adapter / 1e6:.2f} M | "
            f"{100 * adapter / built:.2f} % |"
        )


if __name__ == "__main__":
    main()
