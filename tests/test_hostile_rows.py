"""The build engine's per-row isolation: bounds on one row's size and time, Python's own limits, builder bugs,
and a property-based fuzzer feeding random JSON rows (random types, sizes, Unicode) to every builder."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefbuild.bad_rows import MAX_FIELD_CHARS, RowClock, RowTimeLimit, matches
from prefbuild.build import STATUS, _build_batch
from prefbuild.builders import BUILDERS, RowOutcome, get_builder

BUILDER_NAMES = sorted(BUILDERS)


def run_rows(builder, rows: list[dict], row_seconds: float = 10.0) -> dict[str, list]:
    """One batch through the engine, as datasets.map hands it over (columns; absent keys are None)."""
    keys = sorted({key for row in rows for key in row})
    batch = {key: [row.get(key) for row in rows] for key in keys}
    return _build_batch(batch, list(range(len(rows))), builder, 0, dict(builder.options), row_seconds=row_seconds)


def test_a_row_past_the_time_bound_is_skipped_not_waited_for():
    def slow(row, row_id, seed, options):
        if row["question"] == "slow":
            time.sleep(30)  # interrupted by the row clock
        return get_builder("gsm8k").build_row(row, row_id, seed, options)

    builder = dataclasses.replace(get_builder("gsm8k"), build_row=slow)
    rows = [{"question": "slow", "answer": "1 + 1 = 2"}, {"question": "Q", "answer": "3 + 4 = 7 apples.\n#### 7"}]
    started = time.monotonic()
    out = run_rows(builder, rows, row_seconds=0.3)
    assert time.monotonic() - started < 5
    assert out[STATUS] == ["skip:row_time_limit", ""]


def test_the_row_clock_cannot_be_swallowed_by_a_builder():
    clock = RowClock(0.2)

    def stubborn():
        try:
            time.sleep(5)
        except Exception:  # a builder's broad except must not hide the time bound
            pass

    with clock.running(), pytest.raises(RowTimeLimit):
        with clock.row():
            stubborn()


def test_pythons_own_limits_skip_the_row():
    def recursing(row, row_id, seed, options):
        if row["question"] == "deep":
            raise RecursionError("maximum recursion depth exceeded")
        if row["question"] == "digits":
            int("9" * 5000)
        return RowOutcome.skip("fine")

    builder = dataclasses.replace(get_builder("gsm8k"), build_row=recursing)
    out = run_rows(builder, [{"question": q, "answer": "a"} for q in ("deep", "digits", "ok")])
    assert out[STATUS] == ["skip:beyond_engine_limits", "skip:beyond_engine_limits", "skip:fine"]


def test_a_builder_bug_stops_the_build():
    def buggy(row, row_id, seed, options):
        return {}["missing"]

    builder = dataclasses.replace(get_builder("gsm8k"), build_row=buggy)
    with pytest.raises(RuntimeError, match="builder 'gsm8k' failed on row 0: KeyError"):
        run_rows(builder, [{"question": "q", "answer": "a"}])


def test_oversized_fields_never_reach_the_builder():
    def must_not_run(row, row_id, seed, options):
        raise AssertionError("called")

    builder = dataclasses.replace(get_builder("metamath"), build_row=must_not_run)
    out = run_rows(builder, [{"query": "q", "response": "x" * (MAX_FIELD_CHARS + 1)}])
    assert out[STATUS] == ["skip:text_too_long"]


# ---- fuzzer ----------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
arithmetic = st.lists(
    st.sampled_from(
        [
            "1",
            "24",
            "3.5",
            "1,200",
            " + ",
            " - ",
            " * ",
            " / ",
            " = ",
            "\\boxed{",
            "}",
            "$",
            "\n",
            "#### ",
            "x",
            "é",
            "½",
            "<<",
            ">>",
        ]
    ),
    max_size=40,
).map("".join)


def field_values(spec):
    """Values of the right shape, mostly, and now and then anything at all."""
    if isinstance(spec, list):
        right = st.lists(field_values(spec[0]), max_size=6)
    elif isinstance(spec, dict):
        right = st.fixed_dictionaries({key: field_values(inner) for key, inner in spec.items()})
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        right = st.one_of(
            [st.text(max_size=80) | arithmetic if kind is str else st.integers(-5, 10) for kind in types]
        )
    return st.one_of(right, right, right, st.none(), json_values)


def rows_for(builder):
    fields = builder.checked_fields()
    return st.fixed_dictionaries({name: field_values(spec) for name, spec in fields.items()})


@pytest.mark.parametrize("name", BUILDER_NAMES)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_rows_are_pairs_or_a_named_skip(name, data):
    """Every row the type check lets through becomes pairs or one skip; the engine never raises on a row."""
    builder = get_builder(name)
    rows = data.draw(st.lists(rows_for(builder), min_size=1, max_size=4))
    checked = builder.checked_fields()
    for row in rows:
        if not all(matches(row.get(key), spec) for key, spec in checked.items()):
            continue  # refused before building (--on-bad-rows); test_hostile_inputs covers that path
        out = run_rows(builder, [row])
        statuses = out[STATUS]
        pairs = statuses.count("")
        skips = [status for status in statuses if status.startswith("skip:")]
        # the row is exactly one of: a row with pairs, a skipped row (input_rows = paired + skipped)
        assert (pairs > 0 and not skips) or (pairs == 0 and len(skips) == 1), statuses
        for status, prompt, chosen, rejected in zip(statuses, out["prompt"], out["chosen"], out["rejected"]):
            if status == "":
                assert all(isinstance(text, str) and text for text in (prompt, chosen, rejected))
                assert chosen != rejected
            else:
                kind, reason = status.split(":", 1)
                assert kind in ("skip", "drop") and reason
