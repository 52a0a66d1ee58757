"""DiffusionTrainer: what every denoiser fine-tuning trainer of stage 3 shares, as a ``transformers.Trainer``.

TRL's base trainer cannot hold a diffusers model (docs/architecture.md, "Why transformers.Trainer"),
so this subclasses ``Trainer`` directly, as TRL's trainers do, and overrides only what differs: the
model is the pipeline's denoiser (a UNet or a DiT, named by the pipeline's family adapter,
:mod:`baton_tta.families`); every other component is a frozen feature extractor run once
(``cache_latents``); timesteps, noising, targets and loss weights come from the noise process
the pipeline's scheduler implies; checkpoints hold the trainable weights (full denoiser or LoRA),
optimizer, scheduler, RNG and data position, so a resumed run continues exactly; ``save_model``
writes a pipeline folder of the same class with its card. A subclass defines
``_prepare_data(train_dataset, args) -> (collator, rows, pretrain rows)`` and ``compute_loss``.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import TorchDynamoPlugin
from datasets import Dataset
from diffusers import DiffusionPipeline
from peft import LoraConfig
from safetensors.torch import load_file, save_file
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import set_seed

from baton_tta.data.fingerprint import content_fingerprint
from baton_tta.data.loading import load_preference_dataset, standardize
from baton_tta.data.lock import acquire as acquire_output_lock
from baton_tta.families import Conditioning, TimestepSettings, family_of, load_pipeline
from baton_tta.families.compiling import room_for_compiled_graphs
from baton_tta.hub.cards import CURVES_FILE, pipeline_card, plot_training_curves
from baton_tta.hub.push import pipeline_files, push_folder
from baton_tta.pipelines.pipeline_tango import ship_component_code
from baton_tta.trainer.callbacks import LogTheLastStep, ValidationCallback, use_diffusers_tensorboard
from baton_tta.trainer.config import DiffusionTrainingConfig
from baton_tta.trainer.data import EncodedRow, FeatureEncoder, PairedIndices, scan_clips
from baton_tta.trainer.ema import EMACallback, TrainedWeightsEMA
from baton_tta.trainer.lora import (
    LORA_CONFIG,
    LORA_WEIGHTS,
    add_lora,
    base_denoiser,
    has_lora_loader,
    save_lora,
    set_lora_enabled,
)
from baton_tta.trainer.loss import per_sample_mse
from baton_tta.trainer.parking import Parking
from baton_tta.trainer.safety import (
    FiniteStepGuard,
    defining_settings,
    last_complete_checkpoint,
    mark_complete,
    prepare_output_dir,
    space_for_checkpoint,
)
from baton_tta.trainer.storage import restore, store_frozen_in, training_dtype

logger = logging.getLogger(__name__)

TRAINABLE_WEIGHTS = "model.safetensors"
#: Where the frozen components (text encoders, VAE, vocoder) wait while a cached run trains: off the
#: GPU, which then holds only the denoiser, its gradients and optimizer state (at TANGO's size the
#: whole fp32 pipeline held 5.4 GB of an H200 before the first step).
OFFLOAD_DEVICE = torch.device("cpu")
#: What goes to the Hub from an output folder besides the pipeline's own files (``pipeline_files``:
#: model_index.json, its code, the folders of the components it names): the card, the curves and
#: the LoRA adapters. No checkpoints, no pickles.
CARD_FILES = ["README.md", CURVES_FILE, LORA_WEIGHTS, LORA_CONFIG]


class DiffusionTrainer(Trainer):
    """Fine-tune the denoiser of any supported text-to-audio pipeline (TANGO, AudioLDM 2, Stable
    Audio Open, Stable Audio 3; :data:`baton_tta.families.FAMILIES`); subclasses define the data
    and the loss.

    Args:
        pipeline: a pipeline, or a folder / Hub id to load one from.
        args: the subclass's config (a [`DiffusionTrainingConfig`]).
        train_dataset: the preference data, or its id / path.
        peft_config: a ``peft.LoraConfig`` (overrides the ``use_lora``/``lora_*`` fields).
        callbacks: extra ``TrainerCallback``s.
    """

    #: Card title and one-paragraph summary; subclasses name their method ({model} is the family).
    card_title = "Fine-tuned {model}"
    card_summary = "{model}'s denoiser fine-tuned with baton-tta."
    #: A paragraph the card adds under its summary (online rounds say which round this is).
    card_context: str | None = None
    #: Objectives against a frozen reference (DPO, KTO): a copy of the denoiser, or with LoRA the
    #: denoiser with its adapters switched off.
    uses_reference = False
    #: Objectives that run the whole pipeline at every step (GRPO samples its own clips) keep its
    #: frozen components on the training device; the others move them off once features are cached.
    samples_every_step = False

    def __init__(
        self,
        pipeline: DiffusionPipeline | str,
        args: DiffusionTrainingConfig,
        train_dataset: Dataset | str | None = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        if train_dataset is None:
            raise ValueError("train_dataset is required")
        set_seed(args.seed)
        self.pipeline = load_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
        self.pipeline.set_progress_bar_config(disable=True)
        self.base_model_id = (
            pipeline if isinstance(pipeline, str) else getattr(self.pipeline, "name_or_path", None)
        )
        self.data_sources: list[str] = []
        self.data_fingerprints: list[str] = []
        self.family = family_of(self.pipeline)
        self.noise = self.family.noise_process(_timestep_settings(args))
        for frozen in self.family.frozen_components():
            frozen.requires_grad_(False).eval()
        self.pipeline.to(args.device)
        self.parking = Parking(self.family.frozen_components_by_name())
        denoiser = self.family.denoiser
        self.use_lora = bool(args.use_lora or peft_config is not None)
        if self.use_lora:
            denoiser.requires_grad_(False)
            add_lora(
                denoiser,
                peft_config
                or LoraConfig(
                    r=args.lora_rank,
                    lora_alpha=args.lora_alpha,
                    init_lora_weights="gaussian",
                    target_modules=list(args.lora_target_modules or self.family.lora_target_modules),
                ),
            )
        self.denoiser_gradient_checkpointing = _take_checkpointing_switch(args)
        if self.denoiser_gradient_checkpointing:
            self.family.enable_activation_checkpointing()
        self.denoiser_compile = _take_compile_switch(args)
        if self.denoiser_compile is not None:
            self.family.compile_denoiser(**self.denoiser_compile)
        if torch.device(args.device).type == "cuda":
            self.family.use_training_memory_format()
        denoiser.train()
        self.card_notes: list[str] = []
        self.encoder = FeatureEncoder(self.family, args.audio_length_s, "prompt")
        collator, num_rows, num_pretrain = self._prepare_data(train_dataset, args)
        self._half_dtype = training_dtype(bool(args.bf16), bool(args.fp16))
        self._full_precision_base: dict[str, torch.Tensor] = {}
        indices = PairedIndices(num_rows, num_pretrain, args.seed)
        super().__init__(
            model=denoiser, args=args, train_dataset=indices, data_collator=collator, callbacks=callbacks
        )
        self._lean()
        self._saved_to: Path | None = None  # the folder the pipeline was last saved to, as it is now
        self.finite_guard = FiniteStepGuard()
        self.loss_is_scaled_for_ga = False  # compute_loss returns a per-step mean; Trainer divides by GA
        self.can_return_loss = True
        self._metrics: dict[str, list[torch.Tensor | float]] = defaultdict(list)
        use_diffusers_tensorboard(self)
        self.reference_denoiser = None
        if self.uses_reference and not self.use_lora:
            self.reference_denoiser = frozen_reference(denoiser, self._half_dtype)
            if self.denoiser_compile is not None:
                self.family.compile_blocks(self.reference_denoiser, **self.denoiser_compile)
        self.add_callback(LogTheLastStep())
        self.ema = TrainedWeightsEMA(denoiser, args.ema_decay) if args.use_ema else None
        if self.ema is not None:
            self.add_callback(EMACallback(self.ema))
        if args.validation_every_n_steps and args.validation_prompts:
            self.add_callback(ValidationCallback(self))

    # ------------------------------------------------------------------ data
    def _standardize(
        self, data: Dataset | str, schema: str, column_map: dict[str, str], what: str
    ) -> Dataset:
        """Load (an id or path) or take (a ``Dataset``) the data, rename its columns to the schema's
        and validate every row the same way, whatever its origin; audio is checked by :meth:`_encode`."""
        if isinstance(data, str):
            self.data_sources.append(data)
            logger.info("%s: %s", what, data)
            loaded = load_preference_dataset(
                data, schema=schema, column_map=column_map, check_audio=False, source_rows=True
            )
        else:
            self.data_sources.append(f"in-memory {what} ({len(data)} rows)")
            logger.info("%s: an in-memory dataset of %d rows", what, len(data))
            loaded = standardize(
                data, schema, f"{what} (in memory)", column_map, check_audio=False, source_rows=True
            )
        # what the data *is*, for resume checks: a file rewritten in place keeps its path, not this
        self.data_fingerprints.append(f"{what} content {content_fingerprint(loaded)}")
        return loaded

    def _encode(
        self, dataset: Dataset, column: str, what: str, args: DiffusionTrainingConfig
    ) -> list[EncodedRow] | None:
        """Decode every clip of ``column`` once: check it, measure it and (with ``cache_latents``)
        encode it; returns the cached features, or None when training encodes every step."""
        batch = max(1, args.per_device_train_batch_size)
        tolerance = args.audio_length_tolerance_s
        assert tolerance is not None  # the config resolved None to 3 % of the length
        return scan_clips(dataset, column, self.encoder, tolerance, what, batch, encode=args.cache_latents)

    # ------------------------------------------------------------------ loss pieces
    def _sample_latents(self, batch: dict) -> torch.Tensor:
        """A fresh draw from each clip's latent posterior, scaled into the denoiser's units."""
        latents = batch["latent_mean"] + batch["latent_std"] * torch.randn_like(batch["latent_std"])
        return latents * self.family.latent_scale

    def _condition(self, batch: dict) -> Conditioning:
        """The batch's conditioning, each row replaced with probability ``condition_dropout`` by the
        family's unconditional input (TANGO: zeroed caption states), which keeps guidance working."""
        conditioning = batch["conditioning"]
        if not (self.args.condition_dropout > 0 and self.model.training):
            return conditioning
        first = next(iter(conditioning.values()))
        keep = torch.rand(first.shape[0], device=first.device) >= self.args.condition_dropout
        null = self.family.null_conditioning(conditioning, self.args.audio_length_s)
        return {key: _where_rows(keep, value, null[key]) for key, value in conditioning.items()}

    def _noised_mse(self, model, latents, conditioning: Conditioning, noise, timesteps):
        """Noise the latents at the timesteps, predict, and return per-sample MSE and loss weights."""
        noisy = self.noise.add_noise(latents, noise, timesteps)
        target = self.noise.target(latents, noise, timesteps)
        prediction = self.family.denoise(model, noisy, self.noise.model_timestep(timesteps), conditioning)
        weights = self.noise.loss_weights(timesteps).to(prediction.device)
        return per_sample_mse(prediction, target), weights

    def _draw(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Conditioning]:
        """A batch's random draws, always in this order: posterior sample, noise, timesteps, dropout."""
        latents = self._sample_latents(batch)
        noise = torch.randn_like(latents)
        timesteps = self.noise.sample_timesteps(latents.shape[0], latents.device)
        return latents, noise, timesteps, self._condition(batch)

    def _denoising_terms(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        latents, noise, timesteps, conditioning = self._draw(batch)
        return self._noised_mse(model, latents, conditioning, noise, timesteps)

    def _joint_denoising_terms(self, model, batches: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`_denoising_terms` of several batches (BATON's preference and pretrain batches) from one
        denoiser call on their concatenation: the same draws in the same order, so the same losses
        (the denoisers normalise per sample), in one launch-heavy pass instead of two. Captions of
        different lengths are padded with masked tokens; a family whose conditioning cannot be joined
        that way is called once per batch."""
        draws = [self._draw(batch) for batch in batches]
        conditioning = join_conditioning([d[3] for d in draws], self.family.padded_sequences)
        if conditioning is None:
            return [self._noised_mse(model, latents, cond, noise, t) for latents, noise, t, cond in draws]
        latents = torch.cat([d[0] for d in draws])
        noise = torch.cat([d[1] for d in draws])
        timesteps = torch.cat([d[2] for d in draws])
        mse, weights = self._noised_mse(model, latents, conditioning, noise, timesteps)
        sizes = [d[0].shape[0] for d in draws]
        return list(zip(mse.split(sizes), weights.split(sizes), strict=True))

    @contextmanager
    def _reference(self, model) -> Iterator[torch.nn.Module]:
        """The frozen reference inside the block: the copy, or with LoRA the trained denoiser with its
        adapters switched off (the base weights), switched back on after."""
        if self.reference_denoiser is not None:
            with self.accelerator.autocast():  # as the trained denoiser's forward, which accelerate wraps
                yield self.reference_denoiser
            return
        reference = self.accelerator.unwrap_model(model)
        set_lora_enabled(reference, False)
        try:
            yield reference
        finally:
            set_lora_enabled(reference, True)

    @torch.no_grad()
    def _reference_mses(
        self, model, conditioning: Conditioning, noise: torch.Tensor, timesteps: torch.Tensor, *latents
    ) -> list[torch.Tensor]:
        """The frozen reference's per-sample MSE on each of ``latents`` at the same noise and timesteps."""
        with self._reference(model) as reference:
            return [self._noised_mse(reference, x, conditioning, noise, timesteps)[0] for x in latents]

    def _finish_loss(self, loss: torch.Tensor, metrics: dict[str, torch.Tensor]) -> torch.Tensor:
        """Keep the loss for the step's finite check (:class:`FiniteStepGuard`: read with the gradient
        norm, not here) and its terms for :meth:`log`, all on the device."""
        self.finite_guard.record_loss(loss, metrics)
        for key, value in metrics.items():  # kept on the device: read once per logging step, in log()
            self._metrics[key].append(value.detach().float() if isinstance(value, torch.Tensor) else value)
        return loss

    def _prepare_input(self, data: Any) -> Any:
        """Tensors go to the device in non-blocking copies (from pinned memory on a GPU, the host does
        not wait for them); DeepSpeed's dtype casting stays transformers'."""
        if isinstance(data, torch.Tensor) and not self.is_deepspeed_enabled:
            return data.to(self.args.device, non_blocking=True)
        return super()._prepare_input(data)

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The batch on the device and, on the uncached path, its captions and clips encoded there
        (the collator only decodes: :meth:`~baton_tta.trainer.data.FeatureEncoder.encode_unencoded`)."""
        return self.encoder.encode_unencoded(super()._prepare_inputs(inputs))

    # ------------------------------------------------------------------ running
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any):
        """Train after checking the output folder: a folder holding another run's results is refused
        (``overwrite_output_dir`` clears it); ``resume_from_checkpoint="last"`` (or True) continues the
        newest *complete* checkpoint, and only with the same defining settings."""
        if resume_from_checkpoint in (True, "last", "true", "True"):
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            logger.info(
                "resuming from %s", resume_from_checkpoint or "scratch (no complete checkpoint found)"
            )
            resuming = True
        else:
            resuming = bool(resume_from_checkpoint)
        if self.args.should_save:
            run = (
                defining_settings(
                    self.args, self.data_sources, _hub_or_none(self.base_model_id), self.data_fingerprints
                )
                | self.run_record()
            )
            # one run per folder, held until this process exits; taken before anything is cleared
            acquire_output_lock(self.args.output_dir)
            prepare_output_dir(self.args.output_dir, run, resuming, self.args.overwrite_output_dir)
        self._lean()
        self._saved_to = None  # what training changes is saved again
        try:
            with self._compiled_graph_room():
                return super().train(resume_from_checkpoint=resume_from_checkpoint or None, **kwargs)
        finally:
            self._whole()  # the pipeline is whole again for whoever uses it next

    def _compiled_graph_room(self) -> AbstractContextManager[Any]:
        """Room in dynamo's cache for every graph the compiled blocks need while training runs
        (:mod:`baton_tta.families.compiling`); nothing when nothing is compiled."""
        if self.denoiser_compile is None:
            return nullcontext()
        reference = [self.reference_denoiser] if self.reference_denoiser is not None else []
        return room_for_compiled_graphs(self.family.denoiser, *reference)

    def _lean(self) -> None:
        """What training on the device does not need, off it or halved: with cached features the
        frozen components wait on :data:`OFFLOAD_DEVICE` (only the denoiser runs until validation;
        what training still needs from them is computed first, and a call into them while parked
        fails at once, :mod:`baton_tta.trainer.parking`); under mixed precision a LoRA run's frozen
        base weights are held in the half dtype (:mod:`baton_tta.trainer.storage`: the same results,
        half their memory). Idempotent."""
        if self.args.condition_dropout > 0:  # before parking, and not inside the first step
            self.family.prepare_for_parking(self.args.audio_length_s)
        if self.args.cache_latents and not self.samples_every_step:
            self.parking.park(OFFLOAD_DEVICE)
        if self.use_lora and self._half_dtype is not None:
            self._full_precision_base.update(store_frozen_in(self.family.denoiser, self._half_dtype))

    def _whole(self) -> None:
        """Undo :meth:`_lean`: every component on the training device, the base weights in fp32."""
        self.parking.unpark_to(self.args.device)
        restore(self.family.denoiser, self._full_precision_base)
        self._full_precision_base = {}

    @contextmanager
    def frozen_on_device(self) -> Iterator[None]:
        """The frozen components on the training device inside the block (validation renders clips
        with the whole pipeline), parked again after it if they were."""
        parked = self.parking.parked_on
        self.parking.unpark_to(self.args.device)
        try:
            yield
        finally:
            if parked is not None:
                self.parking.park(parked)

    def _build_accelerator_args(self, **kwargs: Any) -> dict[str, Any]:
        """No whole-model compile by accelerate: ``torch_compile`` was taken by the family's regional
        compilation (:func:`_take_compile_switch`)."""
        accelerator_args = super()._build_accelerator_args(**kwargs)
        accelerator_args["dynamo_plugin"] = TorchDynamoPlugin(backend="no")
        return accelerator_args

    def _get_grad_norm(self, model, grad_norm=None):
        """The Trainer's gradient norm (computed before every optimizer step, clipped or not), checked
        to be finite before the step: no weight ever becomes non-finite (an fp16 overflow is the
        scaler's skipped step)."""
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        scaled = self.accelerator.scaler is not None
        self.finite_guard.check(self.state.global_step + 1, grad_norm, model, scaled)
        return grad_norm

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint, then a marker written last: a kill mid-save leaves no marker, and
        resuming skips that checkpoint."""
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        trainable = sum(p.numel() * p.element_size() for p in self.model.parameters() if p.requires_grad)
        with space_for_checkpoint(folder, trainable):
            super()._save_checkpoint(model, trial)
            self.save_checkpoint_extras(folder)
        self.accelerator.wait_for_everyone()  # every process's extras are on disk before the marker
        if self.args.should_save:
            mark_complete(folder, self.state.global_step)

    def save_checkpoint_extras(self, folder: Path) -> None:
        """What resuming needs beside the Trainer's own state (the EMA's averages); subclasses add
        theirs. Called on every process, before the checkpoint is marked complete."""
        if self.ema is not None and self.args.should_save:
            self.ema.save(folder)

    def init_hf_repo(self, token: str | None = None) -> None:
        """No repo is created during training: :meth:`push_to_hub` creates it and uploads once, at the end."""

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """No pushes on save (``hub_strategy``): the Hub gets one commit, the finished pipeline."""

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the per-step loss terms collected since the last log, averaged over steps and over
        processes (``gather_for_metrics``), so multi-GPU logs are not rank 0's alone (TRL style)."""
        if self._metrics and "loss" in logs:
            device = self.accelerator.device
            for key, values in sorted(self._metrics.items()):
                local = torch.stack(
                    [torch.as_tensor(v, dtype=torch.float32, device=device) for v in values]
                ).mean()
                logs[key] = self.accelerator.gather_for_metrics(local.reshape(1)).mean().item()
            self._metrics.clear()
        super().log(logs, start_time)

    # ------------------------------------------------------------------ saving
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        names = {name for name, p in model.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k in names}

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoint weights: only what trains (the full denoiser, or just the LoRA matrices)."""
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        save_file(self.trainable_state_dict(), os.path.join(output_dir, TRAINABLE_WEIGHTS))
        torch.save(_without_secrets(self.args), os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        model = self.accelerator.unwrap_model(model or self.model, keep_torch_compile=False)
        state = load_file(os.path.join(resume_from_checkpoint, TRAINABLE_WEIGHTS))
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        result = model.load_state_dict(state, strict=False)
        missing = sorted(set(result.missing_keys) & trainable)
        if result.unexpected_keys or missing:
            raise ValueError(
                f"{resume_from_checkpoint}: checkpoint does not match the model "
                f"(unexpected {result.unexpected_keys[:5]}, missing {missing[:5]})"
            )
        if self.ema is not None:
            self.ema.load(resume_from_checkpoint)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Checkpoints keep the Trainer's layout; the final save writes the pipeline and its card."""
        if _internal_call:
            super().save_model(output_dir, _internal_call=True)
            return
        if self.args.should_save:
            self.save_pipeline(output_dir or self.args.output_dir)

    def save_pipeline(self, output_dir: str | os.PathLike) -> Path:
        """A pipeline folder of the base pipeline's class (with LoRA: the adapters too, and the
        denoiser merged unless ``merge_lora`` is off) plus README.md and training curves."""
        output_dir = Path(output_dir)
        self._whole()  # the weights the pipeline was loaded with, not their half-precision rounding
        denoiser = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        with self.ema.averaged() if self.ema is not None else nullcontext():
            saved_denoiser = denoiser
            if self.use_lora:
                save_lora(self.pipeline, self.family.denoiser_name, denoiser, output_dir)
                saved_denoiser = base_denoiser(denoiser, merge=self.args.merge_lora)
            self.family.pipeline_with(**{self.family.denoiser_name: saved_denoiser}).save_pretrained(
                output_dir
            )
        ship_component_code(output_dir)  # components from outside diffusers (the toy vocoder) travel along
        curves = self.create_model_card(output_dir)
        self._saved_to = output_dir.resolve()
        written = "pipeline, model card and training curves" if curves else "pipeline and model card"
        print(f"{written} written to {output_dir.resolve()}")
        return output_dir

    def note_limit(self, message: str) -> None:
        """A fact about the data or the run that limits what it can learn (one class of labels, pairs
        that cancel): logged as a warning and written into the card, so no one mistakes the run for
        a normal one."""
        logger.warning(message)
        self.card_notes.append(message)

    def card_lines(self) -> list[str]:
        """Paragraphs a subclass adds to the card's context (GRPO: the rewards it used)."""
        return []

    def run_record(self) -> dict[str, Any]:
        """What ``run.json`` records beyond the defining settings (a subclass's scorers)."""
        return {}

    def run_notes(self) -> list[str]:
        """The card's notes: :meth:`note_limit`'s, and any a subclass finds at the end of the run."""
        return list(self.card_notes)

    def card_facts(self) -> dict[str, Any]:
        """What the card says about the data (rows, mean reward); subclasses fill it in."""
        return {"num_rows": len(self.train_dataset), "mean_reward": float("nan")}

    def create_model_card(self, output_dir: str | os.PathLike, **_: Any) -> Path | None:
        """README.md from the card template: base model, data sources, every hyperparameter, curves;
        returns the curves' PNG (None when nothing was logged to draw)."""
        output_dir = Path(output_dir)
        curves = plot_training_curves(self.state.log_history, output_dir / CURVES_FILE)
        losses = [entry["loss"] for entry in self.state.log_history if "loss" in entry]
        settings = {name: getattr(self.args, name) for name in self.card_hyperparameters()}
        # the Trainer's own flag was switched off: the denoiser's is what ran
        settings["activation_checkpointing"] = self.denoiser_gradient_checkpointing
        settings["torch_compile (blocks)"] = self.denoiser_compile or False
        settings["mixed_precision (as run)"] = self.accelerator.mixed_precision
        settings["noise process"] = self.noise.name
        model = self.family.display_name
        card = pipeline_card(
            title=self.card_title.format(model=model),
            summary=self.card_summary.format(model=model),
            context="\n\n".join(
                [
                    *([self.card_context] if self.card_context else []),
                    *self.card_lines(),
                    *map(_as_note, self.run_notes()),
                ]
            )
            or None,
            model_name=model,
            pipeline_class=self.family.pipeline_class_name,
            license=self.family.license,
            license_note=self.family.license_note,
            model_tags=self.family.hub_tags,
            remote_code=self.family.remote_code,
            lora_loader=has_lora_loader(self.pipeline),
            base_model=self.base_model_id if isinstance(self.base_model_id, str) else None,
            datasets=self.data_sources,
            hyperparameters=settings,
            steps=self.state.global_step,
            final_loss=losses[-1] if losses else None,
            use_lora=self.use_lora,
            curves_file=CURVES_FILE if curves else None,
            **self.card_facts(),
        )
        card.save(output_dir / "README.md")
        return curves

    def card_hyperparameters(self) -> list[str]:
        """Config fields the card lists: every field this project defines, plus the optimiser's."""
        own = [f for f in type(self.args).__dataclass_fields__ if f not in _TRAINING_ARGUMENT_FIELDS]
        shared = [
            "learning_rate",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "num_train_epochs",
            "max_steps",
            "optim",
            "weight_decay",
            "adam_beta1",
            "adam_beta2",
            "lr_scheduler_type",
            "warmup_steps",
            "max_grad_norm",
            "seed",
            "activation_checkpointing",
        ]
        return [name for name in own + shared if name not in ("validation_prompts",)]

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Save the pipeline, LoRA weights, card and curves, and upload them in one commit to
        ``hub_model_id``. Takes ``private`` and ``create_pr`` too; uploads always block (``blocking``
        is accepted for the Trainer's signature)."""
        unknown = set(kwargs) - {"private", "create_pr"}
        if unknown:
            raise TypeError(f"push_to_hub() got unexpected keyword arguments {sorted(unknown)}")
        output_dir = self.args.output_dir
        if self._saved_to != Path(output_dir).resolve():  # train.py has just saved it: once is enough
            self.save_pipeline(output_dir)
        return push_folder(
            output_dir,
            self.args.hub_model_id or Path(output_dir).absolute().name,
            commit_message=commit_message or "Upload",
            private=kwargs.get("private", self.args.hub_private_repo),
            token=token or self.args.hub_token,
            revision=revision,
            create_pr=kwargs.get("create_pr", False),
            allow_patterns=[*pipeline_files(output_dir), *CARD_FILES],
        )


_TRAINING_ARGUMENT_FIELDS = set(TrainingArguments.__dataclass_fields__)


def frozen_reference(denoiser: torch.nn.Module, half_dtype: torch.dtype | None) -> torch.nn.Module:
    """A frozen copy of ``denoiser`` (a full fine-tune's reference), held in ``half_dtype`` under mixed
    precision: it only ever runs under autocast, so its results are the same at half the memory."""
    reference = copy.deepcopy(denoiser).requires_grad_(False).eval()
    if half_dtype is not None:
        store_frozen_in(reference, half_dtype)
    return reference


def _without_secrets(args: DiffusionTrainingConfig) -> DiffusionTrainingConfig:
    """A copy of the config without the Hub token, for files that stay on disk or travel."""
    clean = copy.copy(args)
    clean.hub_token = None
    return clean


def _hub_or_none(name: Any) -> str | None:
    return name if isinstance(name, str) else None


def join_conditioning(parts: list[Conditioning], padded: dict[str, str]) -> Conditioning | None:
    """Conditioning batches concatenated along the batch axis; a sequence the family pads (``padded``:
    states → their mask) is zero-padded to the longest with its mask False there. None when another
    tensor differs in shape (nothing says which of its positions would be padding)."""
    masks = set(padded.values())
    joined = {}
    for key in parts[0]:
        tensors = [part[key] for part in parts]
        if len({t.shape[1:] for t in tensors}) > 1:
            if key not in padded and key not in masks:
                return None
            length = max(t.shape[1] for t in tensors)
            tensors = [_pad_axis1(t, length) for t in tensors]
        joined[key] = torch.cat(tensors)
    return joined


def _as_note(message: str) -> str:
    return f"**Note:** {message}"


def _take_checkpointing_switch(args: DiffusionTrainingConfig) -> bool:
    """Whether the run asked for activation checkpointing, under either name transformers accepts
    (``activation_checkpointing``, or its deprecated alias ``gradient_checkpointing``, which
    ``TrainingArguments`` has already copied onto it), and switch the Trainer's own flags off.

    The denoiser is a diffusers model: its checkpointing is diffusers' ``enable_gradient_checkpointing``,
    and ``Trainer.train`` would otherwise call transformers' ``activation_checkpointing_enable``, which
    it does not have. Both names are cleared because transformers keeps the alias mirroring the new
    name (docs/architecture.md, "Pitfalls": Trainer and a UNet)."""
    asked = bool(args.activation_checkpointing or args.gradient_checkpointing)
    args.activation_checkpointing = args.gradient_checkpointing = False
    return asked


def _take_compile_switch(args: DiffusionTrainingConfig) -> dict[str, Any] | None:
    """The ``torch.compile`` settings a run asked for (``torch_compile`` / ``torch_compile_backend`` /
    ``torch_compile_mode``), or None; the switch is switched off for the Trainer and accelerate.

    Whole-model compilation of a UNet takes minutes and accelerate's regional variant breaks diffusers'
    UNets, so the family compiles its repeated blocks in place instead
    (:meth:`~baton_tta.families.AudioFamily.compile_denoiser`). ``TrainingArguments`` also exported the
    backend to the environment, where every later ``Accelerator`` of the process would read it."""
    if not args.torch_compile:
        return None
    settings = {"backend": args.torch_compile_backend or "inductor", "mode": args.torch_compile_mode}
    args.torch_compile, args.torch_compile_backend, args.torch_compile_mode = False, None, None
    for variable in ("ACCELERATE_DYNAMO_BACKEND", "ACCELERATE_DYNAMO_MODE"):
        os.environ.pop(variable, None)
    return {key: value for key, value in settings.items() if value is not None}


def _timestep_settings(args: DiffusionTrainingConfig) -> TimestepSettings:
    return TimestepSettings(
        snr_gamma=args.snr_gamma,
        snr_weighting=args.snr_weighting,
        timestep_density=args.timestep_density,
        logit_mean=args.logit_mean,
        logit_std=args.logit_std,
        mode_scale=args.mode_scale,
        flow_loss_weighting=args.flow_loss_weighting,
    )


def _where_rows(keep: torch.Tensor, value: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
    """Rows of ``value`` where ``keep``, else of ``null``; sequences padded to a common length first."""
    if value.dim() >= 2 and value.shape[1:] != null.shape[1:]:
        length = max(value.shape[1], null.shape[1])
        value, null = _pad_axis1(value, length), _pad_axis1(null, length)
    return torch.where(keep.reshape(-1, *([1] * (value.dim() - 1))), value, null.to(value.dtype))


def _pad_axis1(tensor: torch.Tensor, length: int) -> torch.Tensor:
    if tensor.shape[1] == length:
        return tensor
    pad = tensor.new_zeros((tensor.shape[0], length - tensor.shape[1], *tensor.shape[2:]))
    return torch.cat([tensor, pad], dim=1)
