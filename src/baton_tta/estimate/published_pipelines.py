"""TANGO, AudioLDM 2, Stable Audio Open and Stable Audio 3 (and a BATON reward model) at their published sizes, random weights, built in code.

Nothing is downloaded: each denoiser is built from its published configuration
(:data:`baton_tta.families.published.PUBLISHED`), the other components from the shapes their
releases state (named beside each builder). Tokenizers are the tiny ones (a tokenizer's vocabulary
changes no cost that matters here: the text encoders keep their published vocabulary sizes). For
memory and speed only: the weights are random. Built on the ``meta`` device, a pipeline costs no
memory and is what :mod:`baton_tta.estimate` measures; on a real device it is what
``benchmarks/gpu.py`` times. Schedulers are always built on the CPU (they hold real tables).
"""

from __future__ import annotations

import torch
from diffusers import (
    AudioLDM2Pipeline,
    AudioLDM2ProjectionModel,
    AutoencoderKL,
    AutoencoderOobleck,
    AutoencoderSAME,
    CosineDPMSolverMultistepScheduler,
    DDPMScheduler,
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    StableAudio3Pipeline,
    StableAudioPipeline,
    StableAudioProjectionModel,
)
from diffusers.pipelines.stable_audio_3 import StableAudio3DurationEmbedder
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    GPT2Config,
    GPT2LMHeadModel,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
    T5GemmaConfig,
    T5GemmaEncoderModel,
    T5GemmaModuleConfig,
)

from baton_tta.families.published import PUBLISHED
from baton_tta.pipelines.convert_tango import shipped_config, vae_config_from_audioldm
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward.modeling import BatonRewardConfig, BatonRewardModel
from baton_tta.tiny import audioldm2_scheduler, tiny_reward_model, tiny_t5_tokenizer, tiny_tokenizer

#: AudioLDM's VAE as TANGO ships it (``vae_config.json``: 8 latent channels, ch 128 × [1, 2, 4])
AUDIOLDM_VAE = {
    "embed_dim": 8,
    "ddconfig": {
        "double_z": True,
        "z_channels": 8,
        "resolution": 256,
        "in_channels": 1,
        "out_ch": 1,
        "ch": 128,
        "ch_mult": [1, 2, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [],
        "dropout": 0.0,
    },
    "scale_factor": 1.0,
}


def _t5(d_model: int, d_ff: int, layers: int, heads: int, gated: bool) -> T5EncoderModel:
    return T5EncoderModel(
        T5Config(
            vocab_size=32128,
            d_model=d_model,
            d_kv=64,
            d_ff=d_ff,
            num_layers=layers,
            num_heads=heads,
            feed_forward_proj="gated-gelu" if gated else "relu",
        )
    ).eval()


def tango(device: str = "cpu") -> TangoPipeline:
    """TANGO: Flan-T5-large encoder (24 layers, 1024 wide), the 865.9 M UNet, AudioLDM's VAE, HiFi-GAN."""
    with torch.device(device):
        modules = {
            "vae": AutoencoderKL(**vae_config_from_audioldm(AUDIOLDM_VAE)).eval(),
            "text_encoder": _t5(1024, 2816, 24, 16, gated=True),
            "unet": PUBLISHED["TangoPipeline"].build(device),
            "vocoder": SpeechT5HifiGan(SpeechT5HifiGanConfig(**shipped_config("tango_vocoder"))).eval(),
        }
    return TangoPipeline(
        **modules,
        tokenizer=tiny_tokenizer(),
        scheduler=DDPMScheduler(**shipped_config("tango_scheduler")),
    )


def stable_audio_open(device: str = "cpu") -> StableAudioPipeline:
    """Stable Audio Open 1.0: T5-base encoder, seconds projection, the 1.06 B DiT, Oobleck VAE (44.1 kHz
    stereo; diffusers' defaults are the released configuration)."""
    with torch.device(device):
        modules = {
            "vae": AutoencoderOobleck().eval(),
            "text_encoder": _t5(768, 3072, 12, 12, gated=False),
            "projection_model": StableAudioProjectionModel(
                text_encoder_dim=768, conditioning_dim=768, min_value=0, max_value=512
            ),
            "transformer": PUBLISHED["StableAudioPipeline"].build(device),
        }
    return StableAudioPipeline(
        **modules,
        tokenizer=tiny_t5_tokenizer(),
        scheduler=CosineDPMSolverMultistepScheduler(
            solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"
        ),
    )


def audioldm2(device: str = "cpu") -> AudioLDM2Pipeline:
    """AudioLDM 2 (``cvssp/audioldm2``): the CLAP text tower (``ClapConfig`` defaults: RoBERTa-base,
    512-wide projection), Flan-T5-large, the projection into GPT-2 (768 wide, 12 layers; 8 generated
    states), the 350 M two-stream UNet, and AudioLDM's VAE and HiFi-GAN as TANGO ships them (16 kHz)."""
    clap_config = ClapConfig()
    language = GPT2Config(n_embd=768, n_layer=12, n_head=12)
    with torch.device(device):
        modules = {
            "vae": AutoencoderKL(**vae_config_from_audioldm(AUDIOLDM_VAE)).eval(),
            "text_encoder": ClapModel(clap_config).eval(),
            "text_encoder_2": _t5(1024, 2816, 24, 16, gated=True),
            "projection_model": AudioLDM2ProjectionModel(
                text_encoder_dim=clap_config.projection_dim, text_encoder_1_dim=1024, langauge_model_dim=768
            ),
            "language_model": GPT2LMHeadModel(language).eval(),
            "unet": PUBLISHED["AudioLDM2Pipeline"].build(device),
            "vocoder": SpeechT5HifiGan(SpeechT5HifiGanConfig(**shipped_config("tango_vocoder"))).eval(),
        }
    modules["language_model"].config.max_new_tokens = 8
    return AudioLDM2Pipeline(
        **modules,
        tokenizer=tiny_t5_tokenizer(),  # as the tiny AudioLDM 2's: ids within both towers' vocabularies
        tokenizer_2=tiny_t5_tokenizer(),
        feature_extractor=published_clap_feature_extractor(),
        scheduler=audioldm2_scheduler(),
    )


def stable_audio_3(device: str = "cpu") -> StableAudio3Pipeline:
    """Stable Audio 3 Medium base: a T5Gemma-base-shaped encoder (12 layers, 768 wide: the DiT's token
    width), the duration embedder, the 1.5 B DiT and the SAME VAE at diffusers' defaults."""
    module = T5GemmaModuleConfig(
        vocab_size=32128,
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=12,
        head_dim=64,
        max_position_embeddings=512,
        layer_types=["full_attention"] * 12,
    )
    with torch.device(device):
        modules = {
            "vae": AutoencoderSAME().eval(),
            "text_encoder": T5GemmaEncoderModel(
                T5GemmaConfig(encoder=module.to_dict(), decoder=module.to_dict(), is_encoder_decoder=False)
            ).eval(),
            "duration_embedder": StableAudio3DurationEmbedder(),
            "transformer": PUBLISHED["StableAudio3Pipeline"].build(device),
        }
    return StableAudio3Pipeline(
        **modules,
        tokenizer=tiny_t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1, shift=1.0, stochastic_sampling=False
        ),
    )


PUBLISHED_PIPELINES = {
    "TangoPipeline": tango,
    "AudioLDM2Pipeline": audioldm2,
    "StableAudioPipeline": stable_audio_open,
    "StableAudio3Pipeline": stable_audio_3,
}


def published_pipeline(name: str, device: str = "cpu") -> DiffusionPipeline:
    """``name``'s pipeline (a key of :data:`PUBLISHED_PIPELINES`) at its published size: random weights
    on ``device`` (``"meta"``: shapes only, no memory)."""
    torch.manual_seed(0)
    return PUBLISHED_PIPELINES[name](device)


def published_clap_feature_extractor() -> ClapFeatureExtractor:
    """The unfused CLAP's feature extractor: 10 s at 48 kHz, 64 mel bins, one window (``rand_trunc``:
    the unfused model takes no fusion channels)."""
    return ClapFeatureExtractor(truncation="rand_trunc")


def reward_model_on_meta(size: str) -> BatonRewardModel:
    """A BATON reward model on ``meta``: the published CLAP (``laion/clap-htsat-unfused``: RoBERTa-base
    text tower, HTSAT audio tower, 512-wide projections — transformers' ``ClapConfig`` defaults) and the
    official 512-wide head, or the tiny one (``size="tiny"``)."""
    with torch.device("meta"):
        if size == "tiny":
            return tiny_reward_model()
        return BatonRewardModel(BatonRewardConfig(clap_config=ClapConfig().to_dict()))
