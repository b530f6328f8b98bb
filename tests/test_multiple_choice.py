"""The shared multiple-choice step (ARC, HellaSwag) and the shared corrupted-solution helpers (metamath, gsm8k)."""

from prefbuild.builders import gsm8k, math_rows, metamath
from prefbuild.builders.multiple_choice import correct_versus_each_wrong


def _fields(position: int) -> dict:
    return {"source_id": "r1", "rejected_index": position}


def test_one_pair_per_distinct_wrong_choice_and_named_drops():
    outcome = correct_versus_each_wrong("Q:", ["red", None, "blue", " red ", "green"], 0, _fields, noun="choice")
    assert [(pair["chosen"], pair["rejected"], pair["rejected_index"]) for pair in outcome.pairs] == [
        (" red", " blue", 2),
        (" red", " green", 4),
    ]
    assert outcome.pairs[0] == {"prompt": "Q:", "chosen": " red", "rejected": " blue", **_fields(2)}
    assert outcome.dropped == {"empty_wrong_choice": 1, "wrong_choice_equals_correct": 1}
    assert outcome.skip_reason is None


def test_no_distinct_wrong_choice_skips_the_row_with_its_drops():
    outcome = correct_versus_each_wrong("Q:", ["a", "a ", None], 0, _fields, noun="ending")
    assert outcome.pairs == []
    assert outcome.skip_reason == "no_distinct_wrong_ending"
    assert outcome.dropped == {"wrong_ending_equals_correct": 1, "empty_wrong_ending": 1}


def test_wrong_positions_limit_and_order_the_pairs():
    outcome = correct_versus_each_wrong("Q:", ["a", "b", "c"], 0, _fields, noun="choice", wrong=[2])
    assert [pair["rejected"] for pair in outcome.pairs] == [" c"]


def test_corruption_helpers_live_in_one_module_and_keep_their_old_names():
    for name in ("CORRUPTION_SCHEMA", "DEFAULT_SLIP_MODEL", "MAX_RESPONSE_CHARS", "content_id", "corruption_pair"):
        assert getattr(metamath, name) is getattr(math_rows, name)
    assert gsm8k.corruption_options is math_rows.corruption_options
    assert gsm8k.check_options is metamath.check_options
