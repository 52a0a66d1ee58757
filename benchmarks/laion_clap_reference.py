"""LAION-CLAP's side of ``verify_laion_clap_import.py``; runs inside the isolated virtual environment
that holds ``laion-clap`` and its pins, never in the project's own.

It builds ``laion_clap.CLAP_Module`` from the package's own source with random weights and writes, to
``--out``: ``<variant>.pt`` (the state dict as LAION saves it, ``{"state_dict": {"module.…": …}}``),
``<variant>.npz`` (the inputs and LAION's text and audio embeddings of them) and ``<variant>.keys.json``
(key → shape, the unit test's fixture). Nothing is downloaded: the imports that fetch ``roberta-base``,
``bert-base-uncased`` and ``facebook/bart-base`` tokenizers get ``None`` (token ids are made here), the
RoBERTa text tower is built from roberta-base's configuration with random weights, and ``torchvision``
(imported by LAION for its image code only; PyPI has no CPU build matching the CPU torch) is a stand-in
module that provides the names imported and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
import transformers

#: roberta-base's config.json values that shape the weights and the computation.
ROBERTA_BASE = dict(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)
VARIANTS = {
    "htsat-tiny": dict(amodel="HTSAT-tiny", enable_fusion=False),
    "htsat-tiny-fusion": dict(amodel="HTSAT-tiny", enable_fusion=True),
    "htsat-base": dict(amodel="HTSAT-base", enable_fusion=False),
}
FRAMES, MELS, SAMPLES = 1001, 64, 480_000


def stand_in_torchvision() -> None:
    names = [
        "Normalize",
        "Compose",
        "RandomResizedCrop",
        "InterpolationMode",
        "ToTensor",
        "Resize",
        "CenterCrop",
    ]
    modules = {
        name: types.ModuleType(name)
        for name in (
            "torchvision",
            "torchvision.datasets",
            "torchvision.transforms",
            "torchvision.ops",
            "torchvision.ops.misc",
        )
    }
    for name in names:
        setattr(modules["torchvision.transforms"], name, object)
    modules["torchvision.ops.misc"].FrozenBatchNorm2d = object
    modules["torchvision"].datasets = modules["torchvision.datasets"]
    modules["torchvision"].transforms = modules["torchvision.transforms"]
    sys.modules.update(modules)


def no_downloads() -> None:
    for tokenizer in (transformers.BertTokenizer, transformers.RobertaTokenizer, transformers.BartTokenizer):
        tokenizer.from_pretrained = classmethod(lambda cls, *args, **kwargs: None)
    transformers.RobertaModel.from_pretrained = classmethod(
        lambda cls, *args, **kwargs: cls(transformers.RobertaConfig(**ROBERTA_BASE))
    )


def perturb(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Move every learned tensor and norm statistic off its initial value (LayerNorm starts at 1/0,
    so a swapped norm would otherwise go unseen). The STFT and mel buffers are fixed, not learned."""
    fixed = (
        "spectrogram_extractor",
        "logmel_extractor",
        "attn_mask",
        "relative_position_index",
        "position_ids",
    )
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or any(part in name for part in fixed):
                continue
            noise = torch.randn(tensor.shape, generator=generator) * 0.05
            tensor.copy_(tensor + noise if "running_var" not in name else tensor + noise.abs())


def token_inputs(generator: torch.Generator) -> dict[str, torch.Tensor]:
    lengths = [12, 7, 20]
    ids = torch.full((len(lengths), max(lengths)), ROBERTA_BASE["pad_token_id"])
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, 0] = ROBERTA_BASE["bos_token_id"]
        ids[row, 1 : length - 1] = torch.randint(
            3, ROBERTA_BASE["vocab_size"], (length - 2,), generator=generator
        )
        ids[row, length - 1] = ROBERTA_BASE["eos_token_id"]
        mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask}


def reference(variant: str, out: Path, seed: int) -> None:
    import laion_clap

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    module = laion_clap.CLAP_Module(device="cpu", **VARIANTS[variant])
    model = module.model.eval()
    perturb(model, generator)
    state = model.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, out / f"{variant}.pt")
    (out / f"{variant}.keys.json").write_text(json.dumps({k: list(v.shape) for k, v in state.items()}))

    arrays: dict[str, np.ndarray] = {}
    with torch.no_grad():
        tokens = token_inputs(generator)
        arrays.update({k: v.numpy() for k, v in tokens.items()})
        arrays["text_embeds"] = model.get_text_embedding(dict(tokens)).numpy()
        if VARIANTS[variant]["enable_fusion"]:
            mel = torch.randn(3, 4, FRAMES, MELS, generator=generator) * 10 - 40
            for name, longer in (("mixed", [True, False, True]), ("short", [False, False, False])):
                flags = torch.tensor(longer)
                data = [{"mel_fusion": mel[i], "longer": flags[i]} for i in range(3)]
                arrays[f"audio_embeds_{name}"] = model.get_audio_embedding(data).numpy()
                arrays[f"is_longer_{name}"] = flags.numpy()
        else:
            mel = torch.randn(3, 1, FRAMES, MELS, generator=generator) * 10 - 40
            branch = model.audio_branch
            front_end = branch.spectrogram_extractor, branch.logmel_extractor
            branch.spectrogram_extractor = branch.logmel_extractor = torch.nn.Identity()
            arrays["audio_embeds_mel"] = model.get_audio_embedding([{"waveform": m} for m in mel]).numpy()
            branch.spectrogram_extractor, branch.logmel_extractor = front_end
            waves = (torch.randn(2, SAMPLES, generator=generator) * 0.1).clamp(-1, 1).numpy()
            arrays["waveforms"] = waves
            arrays["audio_embeds_waveform"] = module.get_audio_embedding_from_data(x=waves)
        arrays["input_features"] = mel.numpy()
    np.savez(out / f"{variant}.npz", **arrays)
    print(f"{variant}: {len(state)} tensors written", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stand_in_torchvision()
    no_downloads()
    for variant in args.variants:
        reference(variant, args.out, args.seed)


if __name__ == "__main__":
    main()
