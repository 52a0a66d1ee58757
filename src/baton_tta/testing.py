"""Tiny, deterministic components built from configs, with no download.

Tests, the offline demo and benchmarks all use these, so the real loading, saving, training and
conversion code runs on the same classes as the full-size models, only with small configs. Every
builder seeds torch itself, so the same call always returns the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    PreTrainedTokenizerFast,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
)

from baton_tta.pipelines.pipeline_tango import TangoPipeline

TINY_TEXT_WIDTH = 32
TINY_LATENT_CHANNELS = 8
SAMPLING_RATE = 16000

# Words the tiny tokenizer knows: sound events, conjunctions and a few fillers, so the captions the
# project builds (and AudioSet-like display names) tokenise into real ids instead of <unk>.
TOKENIZER_CORPUS = [
    "a dog barks and a man speaks while rain falls in the background",
    "a car horn honks followed by a siren then a train passes before birds chirp",
    "an engine idles as wind blows with water running accompanied by music",
    "a baby cries after a door slams first thunder then a bell rings",
    "speech laughter applause footsteps typing clock tick gunshot explosion",
    "steady tone rising chirp pulse train low rumble hiss decaying bell clicks",
    "sound of people talking loudly quietly nearby distant repeatedly briefly",
    "a hum , a beep , a whistle , a sizzle sounds and can be heard , and finally a siren .",
]


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def tiny_tokenizer(model_max_length: int = 64) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained in code, with T5's special-token layout (pad 0, eos 1, unk 2)
    and an end-of-sequence token appended to every caption as T5 does."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"])
    tokenizer.train_from_iterator(TOKENIZER_CORPUS, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )


def tiny_text_encoder(vocab_size: int, seed: int = 0) -> T5EncoderModel:
    """A 2-layer T5 encoder of width :data:`TINY_TEXT_WIDTH` (Flan-T5-large is 1024 wide)."""
    _seeded(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=TINY_TEXT_WIDTH,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval()


def tiny_unet(seed: int = 0, cross_attention_dim: int = TINY_TEXT_WIDTH) -> UNet2DConditionModel:
    """TANGO's UNet layout (linear projections, upcast attention, 8 latent channels) at width 32/64."""
    _seeded(seed)
    return UNet2DConditionModel(
        sample_size=(16, 32),
        in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS,
        # attention only at the coarser resolution: the same block types as TANGO, at a CPU price
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        attention_head_dim=(4, 8),
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=8,
        use_linear_projection=True,
        upcast_attention=True,
    )


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    """An AudioLDM-shaped VAE: 1-channel mel in and out, 8 latent channels, 2× down-sampling."""
    _seeded(seed)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        latent_channels=TINY_LATENT_CHANNELS,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.9227914214134216,
    ).eval()


def tiny_vocoder_config() -> SpeechT5HifiGanConfig:
    """HiFi-GAN at 16 kHz with 64 mels and hop 160 (like TANGO's), but 32 channels wide."""
    return SpeechT5HifiGanConfig(
        model_in_dim=64,
        sampling_rate=SAMPLING_RATE,
        upsample_initial_channel=32,
        upsample_rates=[5, 4, 8],
        upsample_kernel_sizes=[10, 8, 16],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        normalize_before=False,
        leaky_relu_slope=0.1,
    )


def tiny_vocoder(seed: int = 0) -> SpeechT5HifiGan:
    """HiFi-GAN's own init (normal, std 0.01) makes a random tiny vocoder whisper at about 1e-6, which
    16-bit files round to silence; PyTorch's default conv init gives audible clips (peak ~0.2)."""
    _seeded(seed)
    vocoder = SpeechT5HifiGan(tiny_vocoder_config())
    for module in vocoder.modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            module.reset_parameters()
    return vocoder.eval()


def tiny_scheduler(prediction_type: str = "v_prediction") -> DDPMScheduler:
    """TANGO's scheduler settings (stable-diffusion-2-1's DDPM: scaled-linear 0.00085–0.012,
    1000 steps, steps_offset 1); ``prediction_type`` "v_prediction" (TANGO) or "epsilon"."""
    if prediction_type not in ("v_prediction", "epsilon"):
        raise ValueError(f"prediction_type must be 'v_prediction' or 'epsilon', got {prediction_type!r}")
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type=prediction_type,
        steps_offset=1,
    )


def tiny_tango_pipeline(seed: int = 0, prediction_type: str = "v_prediction") -> TangoPipeline:
    """A complete :class:`TangoPipeline` small enough to sample a second of audio in well under a
    second on one CPU core."""
    tokenizer = tiny_tokenizer()
    return TangoPipeline(
        vae=tiny_vae(seed),
        text_encoder=tiny_text_encoder(len(tokenizer), seed),
        tokenizer=tokenizer,
        unet=tiny_unet(seed),
        scheduler=tiny_scheduler(prediction_type),
        vocoder=tiny_vocoder(seed),
    )


def tiny_clap(
    seed: int = 0, projection_dim: int = 32, num_mel_bins: int = 16, frequency_max: float = 14000.0
) -> tuple[ClapModel, ClapFeatureExtractor]:
    """A CLAP model (RoBERTa text tower, HTSAT audio tower) and its 48 kHz feature extractor, both
    small; the text tower takes ids from :func:`tiny_tokenizer`. ``num_mel_bins`` (16 or 32: HTSAT
    folds a 1 s clip into its 64-wide input only up to 32 bins) and ``frequency_max`` set the audio
    tower's mel front end."""
    _seeded(seed)
    vocab_size = len(tiny_tokenizer())
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 80,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 1,
        "projection_dim": projection_dim,
    }
    audio_config = {
        "spec_size": 64,
        "window_size": 4,
        "num_mel_bins": num_mel_bins,
        "patch_stride": (4, 4),
        "patch_size": 4,
        "patch_embeds_hidden_size": 16,
        "hidden_size": 32,  # = patch_embeds_hidden_size * 2 ** (len(depths) - 1)
        "depths": [1, 1],
        "num_attention_heads": [2, 4],
        "num_classes": 8,
        "enable_fusion": False,
        "projection_dim": projection_dim,
    }
    config = ClapConfig(text_config=text_config, audio_config=audio_config, projection_dim=projection_dim)
    model = ClapModel(config).eval()
    extractor = ClapFeatureExtractor(
        feature_size=num_mel_bins,
        frequency_max=frequency_max,
        sampling_rate=48000,
        hop_length=480,
        max_length_s=1,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    return model, extractor


def diffusers_vae_to_ldm(state: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    """Rename a diffusers ``AutoencoderKL`` state dict into AudioLDM/LDM names (the inverse of
    diffusers' ``convert_ldm_vae_checkpoint``), so tests can write checkpoints in TANGO's layout."""
    attention = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    converted = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        parts = new.split(".")
        if parts[1] == "down_blocks":
            block = parts[2]
            rest = ".".join(parts[3:])
            rest = rest.replace("resnets.", "block.").replace("downsamplers.0.", "downsample.")
            new = f"{parts[0]}.down.{block}.{rest}"
        elif parts[1] == "up_blocks":
            block = num_blocks - 1 - int(parts[2])
            rest = ".".join(parts[3:])
            rest = rest.replace("resnets.", "block.").replace("upsamplers.0.", "upsample.")
            new = f"{parts[0]}.up.{block}.{rest}"
        elif parts[1] == "mid_block":
            if parts[2] == "resnets":
                new = f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:])
            else:
                inner = ".".join(parts[4:-1])
                new = f"{parts[0]}.mid.attn_1.{attention[inner]}.{parts[-1]}"
                if value.dim() == 2:
                    value = value[:, :, None, None]
        converted[new] = value.clone()
    return converted


def write_original_tango_checkpoint(pipeline: TangoPipeline, directory: str | Path) -> Path:
    """Write ``pipeline``'s weights in TANGO's original Hub layout (``main_config.json``,
    ``vae_config.json``, ``stft_config.json``, ``pytorch_model_{main,vae,stft}.bin``). The T5 config
    and tokenizer go to ``text_encoder/`` and ``main_config.json`` names that folder."""
    from baton_tta.pipelines.pipeline_tango import _mel_basis

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    text_dir = root / "text_encoder"
    pipeline.text_encoder.config.save_pretrained(text_dir)
    pipeline.tokenizer.save_pretrained(text_dir)
    main_config = {
        "text_encoder_name": str(text_dir),
        "scheduler_name": "stabilityai/stable-diffusion-2-1",
        "unet_model_config_path": "configs/diffusion_model_config.json",
        "snr_gamma": 5.0,
        "freeze_text_encoder": True,
        "uncondition": False,
    }
    vae = pipeline.vae.config
    mults = [c // vae.block_out_channels[0] for c in vae.block_out_channels]
    vae_config = {
        "image_key": "fbank",
        "subband": 1,
        "embed_dim": vae.latent_channels,
        "time_shuffle": 1,
        "scale_factor": vae.scaling_factor,
        "ddconfig": {
            "double_z": True,
            "z_channels": vae.latent_channels,
            "resolution": 256,
            "downsample_time": False,
            "in_channels": vae.in_channels,
            "out_ch": vae.out_channels,
            "ch": vae.block_out_channels[0],
            "ch_mult": mults,
            "num_res_blocks": vae.layers_per_block,
            "attn_resolutions": [],
            "dropout": 0.0,
            "norm_num_groups": vae.norm_num_groups,
        },
    }
    stft_config = {
        "filter_length": pipeline.config.mel_n_fft,
        "hop_length": pipeline.hop_length,
        "win_length": pipeline.config.mel_win_length,
        "n_mel_channels": pipeline.num_mel_bins,
        "sampling_rate": pipeline.sampling_rate,
        "mel_fmin": pipeline.config.mel_fmin,
        "mel_fmax": pipeline.config.mel_fmax,
    }
    for name, content in (
        ("main_config", main_config),
        ("vae_config", vae_config),
        ("stft_config", stft_config),
    ):
        (root / f"{name}.json").write_text(json.dumps(content, indent=2), encoding="utf-8")

    main_state = {f"unet.{k}": v.clone() for k, v in pipeline.unet.state_dict().items()}
    main_state.update({f"text_encoder.{k}": v.clone() for k, v in pipeline.text_encoder.state_dict().items()})
    vae_state = diffusers_vae_to_ldm(pipeline.vae.state_dict(), len(vae.block_out_channels))
    for key, value in pipeline.vocoder.state_dict().items():
        if key in ("mean", "scale"):
            continue
        original = f"ups.{key[len('upsampler.') :]}" if key.startswith("upsampler.") else key
        vae_state[f"vocoder.{original}"] = value.clone()
    mel_basis = _mel_basis(
        pipeline.sampling_rate,
        pipeline.config.mel_n_fft,
        pipeline.num_mel_bins,
        pipeline.config.mel_fmin,
        pipeline.config.mel_fmax,
    )
    torch.save(main_state, root / "pytorch_model_main.bin")
    torch.save(vae_state, root / "pytorch_model_vae.bin")
    torch.save({"mel_basis": mel_basis.clone()}, root / "pytorch_model_stft.bin")
    return root


def _tone_clip(rng, rate: int, seconds: float):
    """A short synthetic sound: a decaying tone with a little noise, random pitch and onset."""
    import numpy as np

    t = np.arange(round(rate * seconds)) / rate
    onset = rng.uniform(0, seconds / 2)
    envelope = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(1, 6)), 0.0)
    tone = np.sin(2 * np.pi * rng.uniform(150, 3000) * t)
    return (0.4 * envelope * tone + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def tiny_preference_dataset(
    num_rows: int = 24, seconds: float = 1.0, seed: int = 0, reward_rows: bool = True
):
    """A small binary preference dataset built in code: synthetic clips, captions from the tokenizer's
    words, half human rows (labels 1/0) and, with ``reward_rows``, half reward-model rows (scores)."""
    import numpy as np
    from datasets import Audio, Dataset

    from baton_tta.data.audio import encode_audio

    rng = np.random.default_rng(seed)
    events = ["a dog barks", "rain falls", "a car horn honks", "birds chirp", "a bell rings", "wind blows"]
    conjunctions = ["and", "while", "followed by", "then"]
    rows = {k: [] for k in ("prompt", "audio", "label", "task", "source", "reward", "generator", "seed")}
    for i in range(num_rows):
        a, b = rng.choice(len(events), 2, replace=False)
        conjunction = conjunctions[i % len(conjunctions)]
        reward_row = reward_rows and i % 2 == 1
        label = int(rng.integers(0, 2))
        rows["prompt"].append(f"{events[a]} {conjunction} {events[b]}")
        rows["audio"].append(
            encode_audio(_tone_clip(rng, SAMPLING_RATE, seconds), SAMPLING_RATE, f"{i:04d}.wav")
        )
        rows["label"].append(-1 if reward_row else label)
        rows["task"].append("integrity" if conjunction in ("and", "while") else "temporal")
        rows["source"].append("reward_model" if reward_row else "human")
        rows["reward"].append(float(rng.uniform()) if reward_row else float(label))
        rows["generator"].append("tiny")
        rows["seed"].append(i)
    return Dataset.from_dict(rows).cast_column("audio", Audio(sampling_rate=SAMPLING_RATE, decode=False))


def tiny_pretrain_dataset(num_rows: int = 12, seconds: float = 1.0, seed: int = 1):
    """``prompt``/``audio`` rows standing in for AudioCaps in the β term of Eq. 7."""
    import numpy as np
    from datasets import Audio, Dataset

    from baton_tta.data.audio import encode_audio

    rng = np.random.default_rng(seed)
    captions = [
        "a man speaks",
        "water running",
        "a train passes",
        "people talking",
        "music plays",
        "a door slams",
    ]
    audio = [
        encode_audio(_tone_clip(rng, SAMPLING_RATE, seconds), SAMPLING_RATE, f"p{i:04d}.wav")
        for i in range(num_rows)
    ]
    prompts = [captions[i % len(captions)] for i in range(num_rows)]
    return Dataset.from_dict({"prompt": prompts, "audio": audio}).cast_column(
        "audio", Audio(sampling_rate=SAMPLING_RATE, decode=False)
    )


def tiny_reward_model(seed: int = 0, text_backbone: str = "clap", loss: str = "bce"):
    """A :class:`BatonRewardModel` around :func:`tiny_clap` (or a tiny T5 text side), with processors."""
    from baton_tta.reward import BatonRewardConfig, BatonRewardModel

    clap, extractor = tiny_clap(seed)
    tokenizer = tiny_tokenizer()
    t5_config = tiny_text_encoder(len(tokenizer), seed).config.to_dict() if text_backbone == "t5" else None
    _seeded(seed)
    config = BatonRewardConfig(
        clap_config=clap.config.to_dict(),
        head_hidden_sizes=[32],
        loss=loss,
        text_backbone=text_backbone,
        t5_config=t5_config,
    )
    model = BatonRewardModel(config)
    model.clap.load_state_dict(clap.state_dict())
    if text_backbone == "t5":
        model.text_encoder.load_state_dict(tiny_text_encoder(len(tokenizer), seed).state_dict())
    return model.set_processors(tokenizer, extractor).eval()


def tiny_labelled_dataset(num_rows: int = 160, clips_per_prompt: int = 4, seed: int = 0):
    """Human-labelled rows with a learnable rule the tiny CLAP can see: a clip is "aligned" when its
    tone is high (3–6 kHz) and "not aligned" when low (150–600 Hz). Prompts repeat per
    ``clips_per_prompt`` rows, alternating tasks, so prompt-level splits have something to split."""
    import numpy as np
    from datasets import Audio, Dataset

    from baton_tta.data.audio import encode_audio

    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLING_RATE) / SAMPLING_RATE
    rows = {k: [] for k in ("prompt", "audio", "label", "task", "source", "annotator")}
    for i in range(num_rows):
        high = bool(rng.random() < 0.5)
        frequency = rng.uniform(3000, 6000) if high else rng.uniform(150, 600)
        wave = (0.4 * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.shape)).astype(
            np.float32
        )
        group = i // clips_per_prompt
        rows["prompt"].append(f"a bell rings then birds chirp {group}")
        rows["audio"].append(encode_audio(wave, SAMPLING_RATE, f"{i:04d}.wav"))
        rows["label"].append(int(high))
        rows["task"].append("integrity" if group % 2 == 0 else "temporal")
        rows["source"].append("human")
        rows["annotator"].append(f"annotator{i % 3}")
    return Dataset.from_dict(rows).cast_column("audio", Audio(sampling_rate=SAMPLING_RATE, decode=False))


def tiny_backbones(seed: int = 0):
    """Random tiny Cnn14, VGGish and CLAP for evaluation tests (the real ones load public files)."""
    from baton_tta.metrics.cnn14 import Cnn14, Cnn14Config
    from baton_tta.metrics.evaluation import Backbones, ClapEmbedder
    from baton_tta.metrics.vggish import VGGish, VGGishConfig

    _seeded(seed)
    cnn14 = Cnn14(Cnn14Config(channels=(4, 8, 8, 16, 16, 32), classes_num=10))
    vggish = VGGish(VGGishConfig(conv_channels=(4, 4, 8, 8, 8, 8), hidden=16, embedding=12))
    clap, extractor = tiny_clap(seed)
    return Backbones(cnn14=cnn14, vggish=vggish, clap=ClapEmbedder(clap, tiny_tokenizer(), extractor))
