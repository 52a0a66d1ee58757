"""Tiny, deterministic, random-weight components built from configs, with no download.

Every class is the full-size one (T5 encoder, UNet, AudioLDM-shaped VAE, HiFi-GAN, DDPM, CLAP, the
reward model, the metric backbones) with a small config, so loading, saving, training and conversion
code runs exactly as it will at TANGO's size. Use them in your own tests and to check an install
offline; their outputs are noise. Every builder seeds torch itself, so the same call always returns
the same weights. (The toy sound world, :mod:`baton_tta.toy`, is where trained small models live.)
"""

from __future__ import annotations

import torch
from diffusers import (
    AudioLDM2Pipeline,
    AudioLDM2ProjectionModel,
    AudioLDM2UNet2DConditionModel,
    AutoencoderKL,
    AutoencoderOobleck,
    AutoencoderSAME,
    CosineDPMSolverMultistepScheduler,
    DDIMScheduler,
    DDPMScheduler,
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    StableAudio3DiTModel,
    StableAudio3Pipeline,
    StableAudioDiTModel,
    StableAudioPipeline,
    StableAudioProjectionModel,
    UNet2DConditionModel,
)
from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import StableAudio3DurationEmbedder
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2AudioProcessor,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
    T5GemmaConfig,
    T5GemmaEncoderModel,
    T5Tokenizer,
    WhisperFeatureExtractor,
)
from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

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


def tiny_t5_tokenizer(model_max_length: int = 16) -> T5Tokenizer:
    """A ``T5Tokenizer`` built by its own constructor from a whole-word unigram vocabulary of
    :data:`TOKENIZER_CORPUS` (pad 0, eos 1, unk 2), so it saves and loads as the class itself.
    The diffusers families' tiny pipelines use it for every text tower (AudioLDM 2's CLAP side and
    Stable Audio 3's T5Gemma included): the seam never depends on the tokenizer's class, and this one
    round-trips through ``from_pretrained`` with no download. Lower-case words only."""
    words = sorted({word for line in TOKENIZER_CORPUS for word in line.split()})
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), *((f"▁{w}", -1.0) for w in words)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)


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


def audioldm2_scheduler() -> DDIMScheduler:
    """AudioLDM's DDIM (scaled-linear betas 0.0015–0.0195), shared by the tiny and the published-size
    AudioLDM 2 pipelines."""
    return DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )


def tiny_audioldm2_pipeline(seed: int = 0) -> AudioLDM2Pipeline:
    """AudioLDM 2 at toy width: tiny CLAP + T5 → projection → 1-layer GPT-2 (8 generated states), the
    two-stream UNet, the AudioLDM-shaped VAE and HiFi-GAN of :func:`tiny_tango_pipeline` (16 kHz, 64 mels)."""
    clap_tokenizer, t5_tokenizer = tiny_t5_tokenizer(), tiny_t5_tokenizer()
    clap, extractor = tiny_clap(seed, projection_dim=16, vocab_size=len(clap_tokenizer))
    text_encoder_2 = tiny_text_encoder(len(t5_tokenizer), seed)
    _seeded(seed)
    language_model = GPT2LMHeadModel(
        GPT2Config(
            n_embd=16,
            n_head=2,
            n_layer=1,
            vocab_size=len(clap_tokenizer),
            n_positions=64,
            bos_token_id=1,
            eos_token_id=1,
        )
    )
    language_model.config.max_new_tokens = 8
    projection = AudioLDM2ProjectionModel(
        text_encoder_dim=16, text_encoder_1_dim=TINY_TEXT_WIDTH, langauge_model_dim=16
    )
    unet = AudioLDM2UNet2DConditionModel(
        sample_size=32,
        in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        # per block, as AudioLDM 2: self-attention, the GPT-2 stream, the T5 stream
        cross_attention_dim=((None, 16, TINY_TEXT_WIDTH), (None, 16, TINY_TEXT_WIDTH)),
    )
    scheduler = audioldm2_scheduler()
    return AudioLDM2Pipeline(
        vae=tiny_vae(seed),
        text_encoder=clap,
        text_encoder_2=text_encoder_2,
        projection_model=projection,
        language_model=language_model,
        tokenizer=clap_tokenizer,
        tokenizer_2=t5_tokenizer,
        feature_extractor=extractor,
        unet=unet,
        scheduler=scheduler,
        vocoder=tiny_vocoder(seed),
    )


#: tiny waveform-VAE families run at this rate (the real ones at 44.1 kHz), so a second of audio is
#: a few dozen latent frames
TINY_WAVEFORM_RATE = 22050


def tiny_stable_audio_pipeline(seed: int = 0) -> StableAudioPipeline:
    """Stable Audio Open at toy width: T5 + projection (start/end seconds), a 2-layer DiT with a
    96-frame window, a stereo Oobleck VAE (hop 256 at 22.05 kHz, about 1.1 s), the cosine
    DPM-Solver scheduler (v-prediction, σ 0.3–500)."""
    tokenizer = tiny_t5_tokenizer()
    text_encoder = tiny_text_encoder(len(tokenizer), seed)
    _seeded(seed)
    vae = AutoencoderOobleck(
        encoder_hidden_size=2 * TINY_LATENT_CHANNELS,  # the posterior's mean and scale
        downsampling_ratios=[2, 4, 4, 8],
        channel_multiples=[1, 2, 2, 2],
        decoder_channels=8,
        decoder_input_channels=TINY_LATENT_CHANNELS,
        audio_channels=2,
        sampling_rate=TINY_WAVEFORM_RATE,
    )
    transformer = StableAudioDiTModel(
        sample_size=96,
        in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        num_key_value_attention_heads=2,
        cross_attention_dim=32,
        time_proj_dim=16,
        global_states_input_dim=32,
        cross_attention_input_dim=16,
    )
    projection = StableAudioProjectionModel(
        text_encoder_dim=TINY_TEXT_WIDTH, conditioning_dim=16, min_value=0, max_value=32
    )
    scheduler = CosineDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"
    )
    return StableAudioPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder,
        projection_model=projection,
        tokenizer=tokenizer,
        transformer=transformer,
        scheduler=scheduler,
    )


def tiny_stable_audio_3_pipeline(seed: int = 0) -> StableAudio3Pipeline:
    """Stable Audio 3 at toy width: a 2-layer T5Gemma encoder, the duration embedder, a 2-layer DiT,
    a stereo SAME VAE (patch 64 × stride 4 at 22.05 kHz), rectified flow with timesteps in [0, 1]
    and deterministic Euler steps (the non-distilled ``-base`` setting)."""
    tokenizer = tiny_t5_tokenizer()
    _seeded(seed)
    module = T5GemmaModuleConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=64,
        sliding_window=64,
        layer_types=["full_attention", "full_attention"],
        pad_token_id=0,
    )
    text_encoder = T5GemmaEncoderModel(
        T5GemmaConfig(encoder=module.to_dict(), decoder=module.to_dict(), is_encoder_decoder=False)
    ).eval()
    _seeded(seed)
    vae = AutoencoderSAME(
        audio_channels=2,
        patch_size=64,
        encoder_channels=8,
        encoder_c_mults=(2,),
        encoder_strides=(4,),
        encoder_transformer_depths=(1,),
        latent_dim=TINY_LATENT_CHANNELS,
        use_differential_attention=False,
        dim_heads=4,
        ff_mult=2,
        sampling_rate=TINY_WAVEFORM_RATE,
    ).eval()
    _seeded(seed)
    transformer = StableAudio3DiTModel(
        io_channels=TINY_LATENT_CHANNELS,
        embed_dim=32,
        depth=2,
        num_heads=4,
        cond_token_dim=16,
        global_cond_dim=16,
        local_add_cond_dim=5,
        timestep_features_dim=16,
        ff_mult=2,
        num_memory_tokens=3,
        use_differential_attention=False,
    )
    _without_zero_weights(vae, seed)
    _without_zero_weights(transformer, seed)
    return StableAudio3Pipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        duration_embedder=StableAudio3DurationEmbedder(output_dim=16, fourier_dim=16),
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1, shift=1.0, stochastic_sampling=False
        ),
    )


def _without_zero_weights(model: torch.nn.Module, seed: int) -> None:
    """Stable Audio 3's VAE and DiT zero-initialise their residual output projections (a fresh
    model is the identity there, and the tiny VAE maps every clip to the same latents); a random
    fixture whose outputs must depend on its inputs gets small random weights instead."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1 and not parameter.any():
                parameter.normal_(0.0, 0.02, generator=generator)


#: the random tiny pipeline of each family, by pipeline class name
TINY_PIPELINES = {
    "TangoPipeline": tiny_tango_pipeline,
    "AudioLDM2Pipeline": tiny_audioldm2_pipeline,
    "StableAudioPipeline": tiny_stable_audio_pipeline,
    "StableAudio3Pipeline": tiny_stable_audio_3_pipeline,
}


def tiny_pipeline(pipeline_class_name: str, seed: int = 0) -> DiffusionPipeline:
    """The random tiny pipeline of a family (:data:`TINY_PIPELINES`), every component in eval mode as
    ``from_pretrained`` leaves them (built in code they start in train mode, and the AudioLDM 2 tiny
    language model's dropout made two calls with one seed differ)."""
    if pipeline_class_name not in TINY_PIPELINES:
        raise ValueError(f"no tiny pipeline for {pipeline_class_name!r}; known: {sorted(TINY_PIPELINES)}")
    pipeline = TINY_PIPELINES[pipeline_class_name](seed=seed)
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    return pipeline


def tiny_clap(
    seed: int = 0,
    projection_dim: int = 32,
    num_mel_bins: int = 16,
    frequency_max: float = 14000.0,
    vocab_size: int | None = None,
) -> tuple[ClapModel, ClapFeatureExtractor]:
    """A CLAP model (RoBERTa text tower, HTSAT audio tower) and its 48 kHz feature extractor, both
    small; the text tower takes ids from :func:`tiny_tokenizer`. ``num_mel_bins`` (16 or 32: HTSAT
    folds a 1 s clip into its 64-wide input only up to 32 bins) and ``frequency_max`` set the audio
    tower's mel front end; ``vocab_size`` defaults to :func:`tiny_tokenizer`'s."""
    _seeded(seed)
    vocab_size = vocab_size or len(tiny_tokenizer())
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


#: The chat and audio tokens of Qwen2-Audio's processor, and the words its judge questions use.
JUDGE_SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
JUDGE_CORPUS = [
    "yes no are all of the sounds in heard this clip ? answer do occur order it gives",
    'system you are helpful assistant user audio 1 : " .',
]


def tiny_audio_judge(seed: int = 0) -> tuple[Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor]:
    """A random Qwen2-Audio (1-layer audio encoder, 2-layer Qwen2 decoder, width 32) with a real
    ``Qwen2AudioProcessor``: a word-level tokenizer with its chat and audio tokens, and a Whisper
    feature extractor of 16 mel bins on 1 s windows (25 audio tokens per clip)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    special = ["<|endoftext|>", "<unk>", *JUDGE_SPECIAL_TOKENS]
    trainer = trainers.WordLevelTrainer(special_tokens=special)
    tokenizer.train_from_iterator(TOKENIZER_CORPUS + JUDGE_CORPUS, trainer=trainer)
    text = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        additional_special_tokens=JUDGE_SPECIAL_TOKENS,
        padding_side="left",
    )
    features = WhisperFeatureExtractor(
        feature_size=16, sampling_rate=SAMPLING_RATE, hop_length=160, chunk_length=1, n_fft=400
    )
    processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=text)
    config = Qwen2AudioConfig(
        audio_config={
            "model_type": "qwen2_audio_encoder",
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 16,
            "max_source_positions": 50,
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(text),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
        },
        audio_token_index=text.convert_tokens_to_ids("<|AUDIO|>"),
    )
    _seeded(seed)
    return Qwen2AudioForConditionalGeneration(config).eval(), processor
