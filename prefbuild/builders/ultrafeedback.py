"""UltraFeedback binarized (HuggingFaceH4/ultrafeedback_binarized): the highest-rated of four replies chosen over
a random other one, one of the existing preference sets in Smaug's mixture (arXiv 2402.13228).
train_prefs: 61,135 rows → `train`; test_prefs: 2,000 rows → `eval` (its SFT and generation splits are not used).

Fields: `prompt` (a string), `chosen` / `rejected` ([user, assistant] message lists), `prompt_id`, scores.
"""

from __future__ import annotations

from typing import Any

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.preference_sets import METADATA_SCHEMA, solved_example, text_pair

VERSION = "1.0.0"
CITATION = """@misc{cui2023ultrafeedback,
  title         = {UltraFeedback: Boosting Language Models with High-quality Feedback},
  author        = {Cui, Ganqu and Yuan, Lifan and Ding, Ning and Yao, Guanming and Zhu, Wei and Ni, Yuan
                   and Xie, Guotong and Liu, Zhiyuan and Sun, Maosong},
  year          = {2023},
  eprint        = {2310.01377},
  archivePrefix = {arXiv}
}"""
MESSAGES = [{"role": str, "content": str}]


def single_turn_reply(messages: Any, prompt: str) -> str | None:
    """The reply of a single-turn [user, assistant] conversation whose user turn is `prompt`; None otherwise."""
    if not isinstance(messages, list) or len(messages) != 2:
        return None
    user, assistant = messages
    if not isinstance(user, dict) or not isinstance(assistant, dict):
        return None
    if user.get("role") != "user" or assistant.get("role") != "assistant" or user.get("content") != prompt:
        return None
    return assistant.get("content")


def build_row(row: Row, row_id: str, seed: int, options: dict) -> RowOutcome:
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return RowOutcome.skip("empty_prompt")
    chosen = single_turn_reply(row.get("chosen"), prompt)
    rejected = single_turn_reply(row.get("rejected"), prompt)
    if chosen is None or rejected is None:
        return RowOutcome.skip("not_single_turn")  # the prompt stays a string; multi-turn rows would lose context
    return text_pair(None, prompt, chosen, rejected)


def format_example(row: Row) -> str | None:
    return solved_example(build_row(row, "", 0, {}))


def row_id(row: Row, index: int) -> str:
    return str(row.get("prompt_id") or index)


BUILDER = Builder(
    name="ultrafeedback",
    version=VERSION,
    default_source="HuggingFaceH4/ultrafeedback_binarized",
    default_config=None,
    split_map={"train_prefs": "train", "test_prefs": "eval"},
    required_fields=("prompt", "chosen", "rejected"),
    metadata_schema=METADATA_SCHEMA,
    license="mit",
    pretty_name="UltraFeedback binarized preference pairs (prefbuild)",
    card="ultrafeedback",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    field_types={"prompt": str, "chosen": MESSAGES, "rejected": MESSAGES},
    group_column=None,
)
