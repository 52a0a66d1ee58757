"""Stage 1 prompts: label vocabularies, conjunctions and caption generators (template or LLM)."""

from baton_tta.prompts.captions import (
    CONJUNCTIONS,
    INTEGRITY_CONJUNCTIONS,
    PAPER_CONJUNCTIONS,
    TEMPORAL_CONJUNCTIONS,
    Caption,
    LLMCaptionGenerator,
    TemplateCaptionGenerator,
    build_prompts,
    conjunction_lists,
    join_events,
    llm_instruction,
    sample_label_groups,
)
from baton_tta.prompts.checking import check_caption, stated_times
from baton_tta.prompts.phrases import (
    EventPhrase,
    event_keywords,
    phrase_for,
    read_phrase_table,
    reviewed_phrases,
)
from baton_tta.prompts.vocabulary import label_phrase, load_vocabulary, read_labels

__all__ = [
    "CONJUNCTIONS",
    "INTEGRITY_CONJUNCTIONS",
    "PAPER_CONJUNCTIONS",
    "TEMPORAL_CONJUNCTIONS",
    "Caption",
    "EventPhrase",
    "LLMCaptionGenerator",
    "TemplateCaptionGenerator",
    "build_prompts",
    "check_caption",
    "conjunction_lists",
    "event_keywords",
    "join_events",
    "label_phrase",
    "llm_instruction",
    "load_vocabulary",
    "phrase_for",
    "read_labels",
    "read_phrase_table",
    "reviewed_phrases",
    "sample_label_groups",
    "stated_times",
]
