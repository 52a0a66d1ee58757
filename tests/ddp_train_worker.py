"""Launched by tests/test_trainer_process.py through `accelerate launch --multi_gpu --num_processes 2`:
trains the tiny recipe and writes this rank's UNet weights, so the test can compare the ranks."""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import save_file

from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer

output = Path(sys.argv[1])
args = RewardWeightedDiffusionConfig(
    output_dir=str(output),
    audio_length_s=1.0,
    per_device_train_batch_size=2,
    max_steps=3,
    learning_rate=1e-2,
    save_strategy="no",
    report_to="none",
    dataloader_pin_memory=False,
    seed=3,
    logging_steps=1,
    use_cpu=True,
)
trainer = RewardWeightedDiffusionTrainer(
    tiny_tango_pipeline(seed=3), args, tone_preference_dataset(8), tone_pretrain_dataset(4)
)
trainer.train()
weights = {
    k: v.detach().contiguous()
    for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()
}
save_file(weights, str(output / f"rank{trainer.args.process_index}.safetensors"))
print(f"rank {args.process_index} of {args.world_size} done")
