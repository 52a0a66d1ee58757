"""An audio-language model as a judge: the probability that it answers "yes" to a question about
the clip, read from its next-token logits in one forward pass (no sampling), as Resonate rewards
Flow-GRPO with Qwen2.5-Omni.

The question follows BATON's two tasks: for an integrity caption, are all the sounds it names heard;
for a temporal one, do they occur in the order it gives (:func:`~baton_tta.prompts.checking.caption_task`
tells them apart). Any transformers audio-language model whose forward returns ``logits`` and whose
processor takes ``text`` and ``audio`` works — Qwen2-Audio, Qwen2.5-Omni's thinker, Audio Flamingo 3
— loaded as the class its config names; the chat template and the audio rate are the processor's own.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoProcessor, PreTrainedModel, ProcessorMixin

from baton_tta.data.audio import resample
from baton_tta.data.schema import MAX_PROMPT_CHARS
from baton_tta.prompts.checking import caption_task

#: the question per task; ``{caption}`` is the caption being judged
QUESTIONS = {
    "integrity": 'Are all of the sounds in "{caption}" heard in this clip? Answer yes or no.',
    "temporal": 'Do the sounds in "{caption}" occur in this clip in the order it gives? Answer yes or no.',
}


def judge_model_class(name_or_path: str | os.PathLike, **kwargs: Any) -> type[PreTrainedModel]:
    """The transformers class the checkpoint's config names (``architectures``)."""
    try:
        config = AutoConfig.from_pretrained(name_or_path, **kwargs)
    except (ValueError, OSError) as error:  # a diffusers pipeline folder, a file, nothing there
        raise ValueError(
            f"{name_or_path}: not a transformers model ({str(error).splitlines()[0]}); a judge is an "
            "audio-language model such as Qwen2AudioForConditionalGeneration"
        ) from None
    names = [n for n in (config.architectures or []) if hasattr(transformers, n)]
    if not names:
        raise ValueError(
            f"{name_or_path}: its config names no transformers class ({config.architectures}); "
            "a judge is an audio-language model such as Qwen2AudioForConditionalGeneration"
        )
    model_class = getattr(transformers, names[0])
    if not names[0].endswith(("ForConditionalGeneration", "ForCausalLM")):
        raise ValueError(
            f"{name_or_path}: its config names {names[0]}, which does not generate text; a judge is an "
            "audio-language model such as Qwen2AudioForConditionalGeneration"
        )
    return model_class


class AudioLanguageJudge:
    """P("yes") from an audio-language model, per (caption, clip)."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        answer: str = "Yes",
        questions: dict[str, str] | None = None,
        batch_size: int = 8,
        name_or_path: str | None = None,
    ):
        self.model, self.processor = model.eval(), processor
        self.questions = dict(questions or QUESTIONS)
        self.batch_size, self.name_or_path, self.answer = batch_size, name_or_path, answer
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # the last position is every row's next token
        ids = tokenizer.encode(answer, add_special_tokens=False)
        if not ids or ids[0] == tokenizer.unk_token_id:
            raise ValueError(f"the judge's tokenizer has no token for the answer {answer!r}")
        self.yes_token_id = ids[0]
        self.sampling_rate = int(processor.feature_extractor.sampling_rate)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        torch_dtype: torch.dtype | None = None,
        device: str | None = None,
        **kwargs: Any,
    ) -> AudioLanguageJudge:
        """The model as the class its config names, and its processor."""
        model_class = judge_model_class(name_or_path)
        model = model_class.from_pretrained(name_or_path, dtype=torch_dtype)
        if device is not None:
            model = model.to(device)
        return cls(
            model, AutoProcessor.from_pretrained(name_or_path), name_or_path=str(name_or_path), **kwargs
        )

    def question(self, caption: str) -> str:
        return self.questions[caption_task(caption)].format(caption=caption)

    def chat(self, caption: str) -> list[dict]:
        """One user turn: the clip, then the question."""
        content = [{"type": "audio"}, {"type": "text", "text": self.question(caption)}]
        return [{"role": "user", "content": content}]

    def inputs(
        self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int
    ) -> dict[str, torch.Tensor]:
        """The processor's batch (left-padded text, the clips at its rate) on the model's device, with
        position ids that skip the padding, so a row's logits do not depend on its neighbours."""
        texts = self.processor.apply_chat_template(
            [self.chat(p) for p in prompts], add_generation_prompt=True, tokenize=False
        )
        clips = [resample(np.asarray(a, dtype=np.float32), sampling_rate, self.sampling_rate) for a in audios]
        batch = self.processor(
            text=texts, audio=clips, sampling_rate=self.sampling_rate, return_tensors="pt", padding=True
        )
        batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        dtype = self.model.dtype
        return {
            k: v.to(self.model.device, dtype=dtype if v.is_floating_point() else None)
            for k, v in batch.items()
        }

    @torch.no_grad()
    def next_token_logits(
        self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int
    ) -> torch.Tensor:
        return self.model(**self.inputs(prompts, audios, sampling_rate)).logits[:, -1, :].float()

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        """P(the answer token) per (caption, clip): a softmax over the whole vocabulary."""
        if len(prompts) != len(audios):
            raise ValueError(f"{len(prompts)} prompts but {len(audios)} clips")
        long = [i for i, p in enumerate(prompts) if len(p) > MAX_PROMPT_CHARS]
        if long:  # whatever the source (an eval set is not validated as preference data is)
            raise ValueError(
                f"caption {long[0]} is {len(prompts[long[0]]):,} characters (at most {MAX_PROMPT_CHARS:,}): "
                "a caption, not a document (a 100,000-character one took the judge 112 s for 3 clips)"
            )
        out: list[float] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            logits = self.next_token_logits(list(prompts[chunk]), list(audios[chunk]), sampling_rate)
            out.extend(torch.softmax(logits, dim=-1)[:, self.yes_token_id].cpu().tolist())
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "model_class": type(self.model).__name__,
            "answer": self.answer,
            "answer_token_id": self.yes_token_id,
            "sampling_rate": self.sampling_rate,
            "questions": self.questions,
        }
