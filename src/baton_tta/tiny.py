"""Tiny, deterministic, random-weight components built from configs, with no download.

Every class is the full-size one (T5 encoder, UNet, AudioLDM-shaped VAE, HiFi-GAN, DDPM, CLAP, the
reward model, the metric backbones) with a small config, so loading, saving, training and conversion
code runs exactly as it will at TANGO's size. Use them in your own tests and to check an install
offline; their outputs are noise. Every builder seeds torch itself, so the same call always returns
the same weights. (The toy sound world, :mod:`baton_tta.toy`, is where trained small models live.)
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    PreTrainedTokenizerFast,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
)

from baton_tta.clap import ClapEmbedder
from baton_tta.data.audio import CLAP_SAMPLING_RATE, SAMPLING_RATE
from baton_tta.metrics.cnn14 import Cnn14, Cnn14Config
from baton_tta.metrics.evaluation import Backbones
from baton_tta.metrics.vggish import VGGish, VGGishConfig
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward.modeling import BatonRewardConfig, BatonRewardModel

TINY_TEXT_WIDTH = 32
TINY_LATENT_CHANNELS = 8

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
        sampling_rate=CLAP_SAMPLING_RATE,
        hop_length=480,
        max_length_s=1,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    return model, extractor


def tiny_reward_model(seed: int = 0, text_backbone: str = "clap", loss: str = "bce") -> BatonRewardModel:
    """A :class:`BatonRewardModel` around :func:`tiny_clap` (or a tiny T5 text side), with processors."""
    clap, extractor = tiny_clap(seed)
    tokenizer = tiny_tokenizer()
    t5_config = tiny_text_encoder(len(tokenizer), seed).config if text_backbone == "t5" else None
    _seeded(seed)
    config = BatonRewardConfig(
        clap_config=clap.config,
        head_hidden_sizes=[32],
        loss=loss,
        text_backbone=text_backbone,
        t5_config=t5_config,
    )
    model = BatonRewardModel(config)
    model.clap.load_state_dict(clap.state_dict())
    if model.text_encoder is not None:
        model.text_encoder.load_state_dict(tiny_text_encoder(len(tokenizer), seed).state_dict())
    return model.set_processor(ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer)).eval()


def tiny_backbones(seed: int = 0) -> Backbones:
    """Random tiny Cnn14, VGGish and CLAP for evaluation tests (the real ones load public files)."""
    _seeded(seed)
    cnn14 = Cnn14(Cnn14Config(channels=(4, 8, 8, 16, 16, 32), classes_num=10))
    vggish = VGGish(VGGishConfig(conv_channels=(4, 4, 8, 8, 8, 8), hidden=16, embedding=12))
    clap, extractor = tiny_clap(seed)
    return Backbones(cnn14=cnn14, vggish=vggish, clap=ClapEmbedder(clap, tiny_tokenizer(), extractor))
