"""Callbacks of the diffusion trainers: validation during training (render the validation captions, keep
the clips, log their reward), the last step always logged, TensorBoard with diffusers models."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import soundfile as sf
import torch
from transformers import Trainer, TrainerCallback
from transformers.integrations import TensorBoardCallback

from baton_tta.data.audio import score_as_heard
from baton_tta.data.generation import render_clips

logger = logging.getLogger(__name__)


class LogTheLastStep(TrainerCallback):
    """The last optimizer step is always logged: with fewer steps than ``logging_steps`` nothing was,
    so the card said "final logged train loss: n/a" and no curves were drawn while stdout showed the
    run's ``train_loss``."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_log = True
        return control


class ValidationCallback(TrainerCallback):
    """Every ``validation_every_n_steps`` steps (main process): generate ``num_validation_clips`` per
    validation prompt with the current denoiser (through the generation loop every command uses), write them under ``output_dir/validation/step-N/``, log
    ``validation_mean_reward`` when a reward model is set, and add the audio to TensorBoard."""

    def __init__(self, trainer: Trainer):
        """``trainer``: a :class:`~baton_tta.trainer.base.DiffusionTrainer` (its pipeline renders)."""
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        n = args.validation_every_n_steps
        if not n or state.global_step % n or not state.is_world_process_zero:
            return
        trainer = self.trainer
        denoiser = trainer.accelerator.unwrap_model(trainer.model, keep_torch_compile=False)
        was_training = denoiser.training
        denoiser.eval()
        clips = args.num_validation_clips
        seeds = [
            [args.seed + p * clips + k for k in range(clips)] for p in range(len(args.validation_prompts))
        ]
        with trainer.frozen_on_device():
            audios = [
                audio
                for _, batch in render_clips(
                    trainer.pipeline,
                    list(args.validation_prompts),
                    seeds,
                    audio_length_in_s=args.audio_length_s,
                    num_inference_steps=args.validation_inference_steps,
                    guidance_scale=args.validation_guidance_scale,
                    desc="validation clips",
                    progress=not args.disable_tqdm,
                    mixed_precision=trainer.accelerator.mixed_precision,
                )
                for audio in batch
            ]
        denoiser.train(was_training)
        rate = trainer.family.sampling_rate
        folder = Path(args.output_dir) / "validation" / f"step-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        prompts = [p for p in args.validation_prompts for _ in range(clips)]
        for i, audio in enumerate(audios):
            sf.write(folder / f"{i:02d}.wav", audio, rate)
        logs = {"validation_clips": float(len(audios))}
        reward_model = getattr(trainer, "reward_model", None)
        if reward_model is not None:
            scores = score_as_heard(reward_model, prompts, audios, rate)
            logs["validation_mean_reward"] = float(sum(scores) / len(scores))
        self._tensorboard(trainer, state.global_step, prompts, audios, rate)
        trainer.log(logs)

    @staticmethod
    def _tensorboard(trainer, step, prompts, audios, rate) -> None:
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, TensorBoardCallback) and callback.tb_writer is not None:
                for i, (prompt, audio) in enumerate(zip(prompts, audios)):
                    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
                    callback.tb_writer.add_audio(
                        f"validation/{i:02d}", torch.from_numpy(mono)[None], step, sample_rate=rate
                    )
                    callback.tb_writer.add_text(f"validation/{i:02d}_prompt", prompt, step)


class DiffusersTensorBoardCallback(TensorBoardCallback):
    """transformers' TensorBoard callback writes ``model.config.to_json_string()`` at the start, which a
    diffusers UNet (config = FrozenDict) lacks; this one writes the UNet config as JSON instead."""

    def on_train_begin(self, args, state, control, **kwargs):
        model = kwargs.pop("model", None)
        super().on_train_begin(args, state, control, **kwargs)
        if self.tb_writer is not None and model is not None:
            self.tb_writer.add_text("model_config", json.dumps(dict(model.config), default=str))


def use_diffusers_tensorboard(trainer) -> None:
    """Swap the TensorBoard callback that ``report_to`` added for :class:`DiffusersTensorBoardCallback`."""
    for callback in list(trainer.callback_handler.callbacks):
        if type(callback) is TensorBoardCallback:
            trainer.callback_handler.remove_callback(callback)
            trainer.add_callback(DiffusersTensorBoardCallback())
