"""A training step of any objective at a family's published size, run on fake tensors.

The step is the trainer's own: a real trainer of the objective is built on the family's tiny
stand-in with the run's settings (so every decision the trainer makes — LoRA, activation
checkpointing, what it parks, a frozen reference, EMA, half-precision frozen weights, the optimizer —
is made by its code), then its model, reference, family, noise process and feature encoder are
replaced with the published-size ones built on fake tensors, the same decisions applied to them, and
its ``compute_loss``, backward and optimizer step run under :class:`~baton_tta.estimate.fake.StepCounter`
(live bytes and FLOPs). Nothing is allocated; the figures are what a device would hold."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DiffusionPipeline
from torch._subclasses.fake_tensor import FakeTensorMode
from transformers import PrinterCallback, Trainer

from baton_tta.estimate.fake import StepCounter, fake_module, storage_bytes
from baton_tta.estimate.host_reads import CountPerStep
from baton_tta.estimate.measure import MemoryEstimate, add_weights, bytes_by_dtype, weights_by_dtype
from baton_tta.families import family_of
from baton_tta.families.base import AudioFamily
from baton_tta.tiny import tiny_pipeline
from baton_tta.toy.tones import tone_pair_dataset, tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer.base import DiffusionTrainer, _timestep_settings, frozen_reference
from baton_tta.trainer.config import DiffusionTrainingConfig
from baton_tta.trainer.data import UNENCODED_PROMPTS, UNENCODED_WAVEFORM, FeatureEncoder
from baton_tta.trainer.ema import TrainedWeightsEMA
from baton_tta.trainer.lora import add_lora, lora_config_of
from baton_tta.trainer.objectives import Objective
from baton_tta.trainer.storage import store_frozen_in

#: the stand-in's clips (s): its decisions do not depend on the length, and they fit every tiny window
STAND_IN_SECONDS = 1.0
#: the caption every estimated row carries (its length changes only the text states, a few MB)
CAPTION = "a dog barks while rain falls on a tin roof"


def estimate_training_step(objective: Objective, args: DiffusionTrainingConfig, build: Any) -> MemoryEstimate:
    """Peak memory and FLOPs of one optimizer step of ``objective`` with ``args``, on the pipeline
    ``build(device)`` returns (a published-size builder; ``"meta"`` is asked for)."""
    with tempfile.TemporaryDirectory() as folder:
        stand_in_pipeline = build("meta")
        trainer = _stand_in_trainer(objective, args, type(stand_in_pipeline).__name__, folder)
        host_reads = host_reads_per_step(trainer)
        host_batch = next(iter(trainer.get_train_dataloader()))
        trainer.args.audio_length_s = args.audio_length_s  # the published-size step's
        estimate = _run_step(trainer, stand_in_pipeline, host_batch)
        estimate.host_reads = host_reads
        return estimate


def host_reads_per_step(trainer: DiffusionTrainer) -> int:
    """The places one real optimizer step of the stand-in makes the host wait for the device (counted
    on the CPU: an upper bound of a GPU run's; the frozen encoders' own reads apart). The count is the
    code's, not the size's, so the tiny stand-in's step is the run's."""
    counting = CountPerStep(libraries=trainer.family.frozen_components())
    trainer.remove_callback(PrinterCallback)  # the estimate prints its own tables, not the step's metrics
    trainer.add_callback(counting)
    with contextlib.redirect_stdout(io.StringIO()):  # the stand-in's own plan is not the estimate's
        trainer.train()
    trainer.remove_callback(counting)
    trainer._lean()  # as before the step: what training parks, parked
    return sum(counting.steps[0].values())


def stand_in_settings(args: Any, folder: str, **more: Any) -> Any:
    """``args`` for the stand-in's one real step: on the CPU, in ``folder``, 1 s clips, nothing saved,
    logged, pushed or validated (validation renders clips after a step: not the step's memory)."""
    return dataclasses.replace(
        args,
        output_dir=folder,
        use_cpu=True,
        max_steps=1,
        report_to=[],
        push_to_hub=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        audio_length_s=STAND_IN_SECONDS,
        save_strategy="no",
        logging_steps=10_000,
        disable_tqdm=True,
        validation_every_n_steps=0,
        **more,
    )


def _stand_in_trainer(
    objective: Objective, args: DiffusionTrainingConfig, pipeline_class_name: str, folder: str
) -> DiffusionTrainer:
    """The objective's trainer with ``args`` on the tiny pipeline of the family, one batch of tone data."""
    settings = stand_in_settings(args, folder)
    rows = max(2, args.per_device_train_batch_size)
    data: dict[str, Any]
    if objective.rows == "pairs":
        data = {"train_dataset": tone_pair_dataset(rows, STAND_IN_SECONDS)}
    elif objective.rows == "rewards":
        data = {"train_dataset": tone_preference_dataset(2 * rows, STAND_IN_SECONDS)}
        if getattr(args, "beta", 0) > 0:
            data["pretrain_dataset"] = tone_pretrain_dataset(rows, STAND_IN_SECONDS)
    else:
        raise ValueError(f"objective {objective.name!r} trains on {objective.rows}: estimate it as an update")
    return objective.trainer_class(tiny_pipeline(pipeline_class_name), settings, **data)


@dataclass
class PublishedSize:
    """A stand-in trainer taken over by the published-size pipeline: what its step runs on."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    ema: TrainedWeightsEMA | None
    #: the resident part (weights, parked, optimizer state, gradients, setup peak), the work's to add
    estimate: MemoryEstimate
    mode: FakeTensorMode


def at_published_size(trainer: DiffusionTrainer, pipeline: DiffusionPipeline, what: str) -> PublishedSize:
    """Apply the stand-in trainer's decisions to ``pipeline`` (built on ``meta``) on fake tensors and
    make the trainer work on it; its loss code is unchanged."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    family = family_of(pipeline)
    args = trainer.args
    half = trainer._half_dtype
    setup = weights_by_dtype(*family.frozen_components(), family.denoiser)
    for frozen in family.frozen_components():
        frozen.requires_grad_(False).eval()
    denoiser = family.denoiser
    if trainer.use_lora:
        denoiser.requires_grad_(False)
        add_lora(denoiser, copy.deepcopy(lora_config_of(trainer.family.denoiser)))
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            fake_module(component, mode)
    if trainer.denoiser_gradient_checkpointing:
        family.enable_activation_checkpointing()
    denoiser.train()
    with mode, warnings.catch_warnings():
        # copying a fake parameter reads its (absent) data pointer: harmless here, and said at length
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        if trainer.use_lora and half is not None:
            store_frozen_in(denoiser, half)
        reference = frozen_reference(denoiser, half) if trainer.reference_denoiser is not None else None
        ema = TrainedWeightsEMA(denoiser, args.ema_decay) if trainer.ema is not None else None
    _take_over(trainer, family, reference)
    parked = trainer.parking.parked_on is not None
    with torch.no_grad():
        if args.condition_dropout > 0:
            family.prepare_for_parking(args.audio_length_s)
        model = trainer.accelerator.prepare_model(denoiser, device_placement=False)  # its autocast
        optimizer = _optimizer_with_state(args, denoiser)
    on_device = [denoiser, reference] + ([] if parked else family.frozen_components())
    estimate = MemoryEstimate(
        what,
        weights=add_weights(
            weights_by_dtype(*on_device), bytes_by_dtype(ema.ema.shadow_params if ema else [])
        ),
        parked=sum(weights_by_dtype(*family.frozen_components()).values()) if parked else 0,
        optimizer_state=storage_bytes(optimizer.state),
        gradients=storage_bytes([p for p in denoiser.parameters() if p.requires_grad]),
        setup_peak=sum(setup.values()),
    )
    return PublishedSize(model, optimizer, ema, estimate, mode)


def optimizer_step(published: PublishedSize) -> None:
    """The optimizer's step (and the EMA's), as the trainer makes it after its backward passes."""
    published.optimizer.step()
    if published.ema is not None:
        published.ema.step()
    published.optimizer.zero_grad(set_to_none=True)


def _run_step(trainer: DiffusionTrainer, pipeline: DiffusionPipeline, host_batch: dict) -> MemoryEstimate:
    published = at_published_size(trainer, pipeline, "training step")
    # no fake mode around the work itself: what is not a model's (token ids, a scheduler's tables, a
    # dropout draw) stays real and is read as it would be; whatever meets a fake weight becomes fake
    with torch.no_grad():
        batch = {
            key: _published_part(value, trainer.encoder, published.mode) for key, value in host_batch.items()
        }
    estimate = published.estimate
    estimate.batch = storage_bytes(batch)
    accumulation = max(1, trainer.args.gradient_accumulation_steps)
    with StepCounter() as counter:
        for _ in range(min(2, accumulation)):  # from the second micro-batch on, gradients are held
            inputs = trainer._prepare_inputs(batch)
            loss = trainer.compute_loss(published.model, inputs)
            loss.backward()
            del inputs, loss
        optimizer_step(published)
    estimate.working_at_peak = counter.peak
    estimate.flops = counter.flops / min(2, accumulation) * accumulation
    return estimate


def _take_over(trainer: DiffusionTrainer, family: AudioFamily, reference: torch.nn.Module | None) -> None:
    """The stand-in trainer now works on the published-size family: its loss code is unchanged."""
    trainer.family = family
    trainer.noise = family.noise_process(_timestep_settings(trainer.args))
    trainer.encoder = FeatureEncoder(family, trainer.args.audio_length_s, "prompt")
    trainer.reference_denoiser = reference


def _published_part(value: Any, encoder: FeatureEncoder, mode: FakeTensorMode) -> Any:
    """One part of a collated stand-in batch at the published size: clips of the family's length and
    channels (the uncached path encodes them in the step), or their cached features."""
    if isinstance(value, dict) and UNENCODED_WAVEFORM in value:
        rows = len(value[UNENCODED_PROMPTS])
        return {UNENCODED_PROMPTS: [CAPTION] * rows, UNENCODED_WAVEFORM: _waveform(encoder, rows, mode)}
    if isinstance(value, dict) and "latent_mean" in value:
        rows = value["latent_mean"].shape[0]
        return encoder.encode_batch([CAPTION] * rows, _waveform(encoder, rows, mode))
    if isinstance(value, torch.Tensor):
        return mode.from_tensor(value)
    return value


def _waveform(encoder: FeatureEncoder, rows: int, mode: FakeTensorMode) -> torch.Tensor:
    with mode:
        return torch.zeros(rows, encoder.family.channels, encoder.num_samples)


def _optimizer_with_state(args: DiffusionTrainingConfig, denoiser: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer ``Trainer`` builds for these settings, after one step: its state exists, as from
    the second step of a run on."""
    optimizer_class, settings = Trainer.get_optimizer_cls_and_kwargs(args, denoiser)
    trained = [p for p in denoiser.parameters() if p.requires_grad]
    optimizer = optimizer_class(trained, **settings)
    for parameter in trained:
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return optimizer
