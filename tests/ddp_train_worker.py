"""Launched by tests/test_trainer_process.py through `accelerate launch --multi_gpu --num_processes 2`:
trains the tiny recipe (BATON's loss, or GRPO with ``grpo`` as the second argument) and writes this
rank's UNet weights, so the test can compare the ranks; GRPO ranks also write the prompts they sampled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from datasets import Dataset
from safetensors.torch import save_file

from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import (
    DiffusionGRPOConfig,
    DiffusionGRPOTrainer,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
)

output = Path(sys.argv[1])
objective = sys.argv[2] if len(sys.argv) > 2 else "baton"


class Loudness:
    def score(self, prompts, audios, sampling_rate):
        return [float(abs(a).mean()) for a in audios]


#: what both objectives' runs share: CPU ranks in a gloo group, a fixed seed, nothing saved
COMMON = {
    "output_dir": str(output),
    "audio_length_s": 1.0,
    "learning_rate": 1e-2,
    "save_strategy": "no",
    "report_to": "none",
    "dataloader_pin_memory": False,
    "seed": 3,
    "logging_steps": 1,
    "use_cpu": True,
}
sampled: list[str] = []
if objective == "grpo":
    args = DiffusionGRPOConfig(
        per_device_train_batch_size=1, num_generations=2, num_inference_steps=3, max_steps=2, **COMMON
    )
    prompts = Dataset.from_dict({"prompt": ["a dog barks", "rain falls", "a bell rings", "wind blows"]})
    trainer = DiffusionGRPOTrainer(tiny_tango_pipeline(seed=3), args, prompts, reward_funcs=Loudness())
    roll_out = trainer.roll_out

    def recording(indices):
        rollouts = roll_out(indices)
        sampled.extend(rollouts.prompts)
        return rollouts

    trainer.roll_out = recording
else:
    args = RewardWeightedDiffusionConfig(per_device_train_batch_size=2, max_steps=3, **COMMON)
    trainer = RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(seed=3), args, tone_preference_dataset(8), tone_pretrain_dataset(4)
    )
trainer.train()
if objective == "grpo":
    (output / f"rank{args.process_index}.prompts.json").write_text(json.dumps(sampled))
weights = {
    k: v.detach().contiguous()
    for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()
}
save_file(weights, str(output / f"rank{trainer.args.process_index}.safetensors"))
print(f"rank {args.process_index} of {args.world_size} done")
