"""Stage 1 prompts: label vocabularies, conjunctions and caption generators (template or LLM)."""

from baton_tta.prompts.captions import (
    CONJUNCTIONS,
    INTEGRITY_CONJUNCTIONS,
    TEMPORAL_CONJUNCTIONS,
    Caption,
    LLMCaptionGenerator,
    TemplateCaptionGenerator,
    build_prompts,
    check_caption,
    llm_instruction,
    sample_label_groups,
)
from baton_tta.prompts.vocabulary import label_keywords, label_phrase, load_vocabulary, read_labels

__all__ = [
    "CONJUNCTIONS",
    "INTEGRITY_CONJUNCTIONS",
    "TEMPORAL_CONJUNCTIONS",
    "Caption",
    "LLMCaptionGenerator",
    "TemplateCaptionGenerator",
    "build_prompts",
    "check_caption",
    "label_keywords",
    "label_phrase",
    "llm_instruction",
    "load_vocabulary",
    "read_labels",
    "sample_label_groups",
]
