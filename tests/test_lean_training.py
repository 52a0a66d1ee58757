"""Training lean and fast on a GPU, checked on CPU: frozen weights in the training dtype, the denoiser's
blocks compiled in place, channels-last UNets. Each keeps a fixed batch's loss (tolerance stated)."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers import DiffusionPipeline

from baton_tta.tiny import TINY_PIPELINES, tiny_pipeline
from baton_tta.trainer import DiffusionDPOConfig, DiffusionDPOTrainer
from baton_tta.trainer.storage import AUTOCAST_LAYERS
from test_families import _baton, _first_batch, _objective_args
from test_trainer import _pairwise

FAMILIES = sorted(TINY_PIPELINES)


def _loss_and_gradients(trainer, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One fixed-seed loss under the run's autocast (as accelerate wraps the denoiser) and its gradients
    (Stable Audio 3's tiny DiT has weights this loss does not reach)."""
    torch.manual_seed(0)
    with trainer.accelerator.autocast():
        loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    gradients = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad()
    return loss.detach(), gradients


def _frozen_layer_bytes(denoiser: torch.nn.Module) -> dict[torch.dtype, int]:
    totals: dict[torch.dtype, int] = {}
    for module in denoiser.modules():
        if isinstance(module, AUTOCAST_LAYERS):
            for parameter in module.parameters(recurse=False):
                if not parameter.requires_grad:
                    size = parameter.numel() * parameter.element_size()
                    totals[parameter.dtype] = totals.get(parameter.dtype, 0) + size
    return totals


@pytest.mark.parametrize("name", FAMILIES)
def test_lora_holds_its_frozen_base_in_bf16_with_the_same_loss_and_saves_the_fp32_weights(tmp_path, name):
    """Under bf16 a LoRA run's frozen linear and convolution weights are held in bf16 (half their bytes;
    autocast would cast them at every call anyway), the adapters stay fp32; the loss and every
    gradient are bit-equal to the fp32 base's, and the saved pipeline holds the fp32 weights it was
    loaded with, not their rounding."""
    trainer = _baton(tmp_path, name, use_lora=True, bf16=True, max_steps=1, merge_lora=False)
    denoiser = trainer.family.denoiser
    loaded = {k.replace(".base_layer", ""): v.clone() for k, v in trainer._full_precision_base.items()}
    assert loaded, "nothing was stored in bf16"
    halved = _frozen_layer_bytes(denoiser)
    assert set(halved) == {torch.bfloat16}
    assert {p.dtype for p in denoiser.parameters() if p.requires_grad} == {torch.float32}
    batch = _first_batch(trainer)
    lean_loss, lean_gradients = _loss_and_gradients(trainer, batch)
    trainer._whole()
    assert _frozen_layer_bytes(denoiser) == {torch.float32: 2 * halved[torch.bfloat16]}
    loss, gradients = _loss_and_gradients(trainer, batch)
    assert torch.equal(lean_loss, loss)
    for key, gradient in gradients.items():
        assert torch.equal(lean_gradients[key], gradient), key

    trainer.train()  # lean again while training, whole again after it
    trainer.save_model()
    saved = DiffusionPipeline.from_pretrained(
        trainer.args.output_dir, trust_remote_code=name == "TangoPipeline"
    )
    saved_state = getattr(saved, trainer.family.denoiser_name).state_dict()
    for key, original in loaded.items():
        assert saved_state[key].dtype == torch.float32
        assert torch.equal(saved_state[key], original), key


def test_a_full_fine_tunes_frozen_reference_runs_in_bf16_close_to_fp32(tmp_path):
    """Diffusion-DPO's frozen reference copy (no LoRA) is held in bf16 and runs under the run's autocast:
    its per-sample errors stay within 2 % of the fp32 reference's (bf16 has 8 bits of mantissa)."""
    args = _objective_args(DiffusionDPOConfig, tmp_path, max_steps=1, bf16=True)
    trainer = DiffusionDPOTrainer(tiny_pipeline("TangoPipeline"), args, _pairwise(2))
    assert set(_frozen_layer_bytes(trainer.reference_denoiser)) == {torch.bfloat16}
    batch = _first_batch(trainer)["chosen"]
    latents, noise, timesteps, conditioning = trainer._draw(batch)
    lean = trainer._reference_mses(trainer.model, conditioning, noise, timesteps, latents)[0]
    trainer.reference_denoiser = trainer.family.denoiser  # the fp32 weights it was copied from
    full = trainer._reference_mses(trainer.model, conditioning, noise, timesteps, latents)[0]
    torch.testing.assert_close(lean.float(), full.float(), rtol=2e-2, atol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_torch_compile_compiles_the_denoisers_blocks_in_place_with_the_same_loss(tmp_path, name, monkeypatch):
    """``torch_compile`` (here with the ``aot_eager`` backend: dynamo's tracing and autograd without a
    C compiler) compiles each repeated block in place, keeps the state dict's names, switches the
    Trainer's and accelerate's own whole-model compile off, and a fixed batch's loss and gradients
    match eager (rtol 1e-5, atol 1e-6)."""
    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "inductor")  # as TrainingArguments exports it
    eager = _baton(tmp_path / "eager", name)
    compiled = _baton(tmp_path / "compiled", name, torch_compile_backend="aot_eager")
    blocks = [m for m in compiled.model.modules() if m._compiled_call_impl is not None]
    assert blocks and {type(m).__name__ for m in blocks} <= set(compiled.family.compiled_blocks)
    assert not compiled.args.torch_compile and "ACCELERATE_DYNAMO_BACKEND" not in os.environ
    assert compiled.accelerator.state.dynamo_plugin.backend.value == "NO"
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())
    compiled.model.load_state_dict(eager.model.state_dict())
    batch = _first_batch(eager)
    loss, gradients = _loss_and_gradients(eager, batch)
    compiled_loss, compiled_gradients = _loss_and_gradients(compiled, batch)
    torch.testing.assert_close(compiled_loss, loss, rtol=1e-5, atol=1e-6)
    for key, gradient in gradients.items():
        torch.testing.assert_close(compiled_gradients[key], gradient, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["TangoPipeline", "AudioLDM2Pipeline"])
def test_unets_train_channels_last_with_the_same_loss(tmp_path, name):
    """UNet families lay their 4-D weights out channels-last for training on a GPU (done on CUDA only;
    called here directly): the loss of a fixed batch is unchanged (rtol 1e-5)."""
    trainer = _baton(tmp_path, name)
    batch = _first_batch(trainer)
    loss, gradients = _loss_and_gradients(trainer, batch)
    trainer.family.use_training_memory_format()
    convolutions = [p for p in trainer.model.parameters() if p.dim() == 4]
    assert convolutions and all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    channels_last_loss, channels_last_gradients = _loss_and_gradients(trainer, batch)
    torch.testing.assert_close(channels_last_loss, loss, rtol=1e-5, atol=1e-7)
    for key, gradient in gradients.items():
        torch.testing.assert_close(channels_last_gradients[key], gradient, rtol=1e-4, atol=1e-6)


def test_the_optimizer_is_the_fused_adamw(tmp_path):
    """One kernel per step for every parameter's update (transformers' default, kept: no config sets another)."""
    trainer = _baton(tmp_path, "TangoPipeline")
    optimizer = trainer.create_optimizer()
    assert type(optimizer).__name__ == "AdamW" and optimizer.defaults["fused"] is True


def test_no_recipe_asks_for_an_unfused_optimizer():
    from pathlib import Path

    import yaml

    recipes = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
    chosen = {path.name: yaml.safe_load(path.read_text()).get("optim") for path in recipes}
    assert {name: optim for name, optim in chosen.items() if optim not in (None, "adamw_torch_fused")} == {}


def test_a_full_fine_tunes_frozen_reference_is_compiled_as_the_trained_denoiser(tmp_path):
    """``deepcopy`` drops a module's compiled call: the reference used to run eager beside a compiled
    denoiser. Its blocks are compiled the same way, and it gives the eager reference's errors."""
    args = _objective_args(DiffusionDPOConfig, tmp_path, max_steps=1, torch_compile_backend="aot_eager")
    trainer = DiffusionDPOTrainer(tiny_pipeline("TangoPipeline"), args, _pairwise(2))
    compiled = [m for m in trainer.reference_denoiser.modules() if m._compiled_call_impl is not None]
    assert compiled and {type(m).__name__ for m in compiled} <= set(trainer.family.compiled_blocks)
    batch = _first_batch(trainer)["chosen"]
    latents, noise, timesteps, conditioning = trainer._draw(batch)
    got = trainer._reference_mses(trainer.model, conditioning, noise, timesteps, latents)[0]
    for module in compiled:
        module._compiled_call_impl = None  # the same weights, eager
    expected = trainer._reference_mses(trainer.model, conditioning, noise, timesteps, latents)[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _four_width_tango(caption_width: int) -> DiffusionPipeline:
    """The tiny TANGO with a UNet whose attention blocks come in four widths, as TANGO's own do in
    three (320/640/1280): the case where dynamo's one cache per block class ran out."""
    from diffusers import UNet2DConditionModel

    from baton_tta.tiny import TINY_LATENT_CHANNELS

    pipeline = tiny_pipeline("TangoPipeline")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=(16, 32),
        in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS,
        down_block_types=("CrossAttnDownBlock2D",) * 4,
        up_block_types=("CrossAttnUpBlock2D",) * 4,
        block_out_channels=(8, 16, 24, 32),
        layers_per_block=1,
        attention_head_dim=4,
        cross_attention_dim=caption_width,
        norm_num_groups=4,
        use_linear_projection=True,
    )
    pipeline.register_modules(unet=unet)
    return pipeline


def test_compiled_blocks_take_one_graph_per_shape_class_and_mode_with_no_eager_fallback(tmp_path):
    """A run over two caption lengths and two batch sizes, with validation (eval, no grad, guidance's
    doubled batch), compiles one graph per block width and mode, counted with dynamo's own counters:
    batch and caption length are symbolic and the cache has room for every width, so nothing falls back
    to eager (static sizes needed a graph per width × length × batch: the 9th ran eager). Dynamo's own
    limit is back after training."""
    from datasets import concatenate_datasets
    from torch._dynamo.utils import counters

    from baton_tta.tiny import TINY_TEXT_WIDTH
    from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
    from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer

    rows = tone_preference_dataset(num_rows=5, seconds=1.0, reward_rows=False)
    long_captions = rows.select(range(3, 5)).map(
        lambda row: {"prompt": row["prompt"] + " in a very large hall"}
    )
    rows = concatenate_datasets([rows.select(range(3)), long_captions])  # batches of 3 and 2, two lengths
    args = _objective_args(
        RewardWeightedDiffusionConfig,
        tmp_path,
        max_steps=4,
        per_device_train_batch_size=3,
        torch_compile_backend="eager",
        validation_prompts=["a dog barks"],
        validation_every_n_steps=4,
        validation_inference_steps=2,
    )
    trainer = RewardWeightedDiffusionTrainer(
        _four_width_tango(TINY_TEXT_WIDTH), args, rows, tone_pretrain_dataset(num_rows=5, seconds=1.0)
    )
    seen: set[tuple[int, int]] = set()
    trainer.family.denoiser.register_forward_pre_hook(
        lambda _, args, kwargs: seen.add((args[0].shape[0], kwargs["encoder_hidden_states"].shape[1])),
        with_kwargs=True,
    )
    torch._dynamo.reset()
    counters.clear()
    trainer.train()
    batches, lengths = {b for b, _ in seen}, {n for _, n in seen}
    assert len(batches) >= 3 and len(lengths) >= 2, seen  # 3 + 3, 2 + 2, and validation's guided batch
    fallbacks = [reason for reason in counters["unimplemented"] if "recompile" in reason.lower()]
    assert fallbacks == []
    assert counters["stats"]["unique_graphs"] == 4 * 2  # four widths × {training, validation}
    assert torch._dynamo.config.recompile_limit == 8
