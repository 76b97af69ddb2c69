"""The run's decisions per file (models.Plans): kept as hashes in sorted arrays, answering as
the dict they replace did."""

from __future__ import annotations

import pytest

from bulkimport.compact import HashIndex
from bulkimport.models import Plan, Plans


def test_plans_answer_like_a_dict_across_frozen_runs():
    plans = Plans()
    plans._index.FREEZE_AT = 4  # freeze often: every path of the code is used
    decided = {f"A-{n}.pdf": list(Plan)[n % len(Plan)] for n in range(30)}
    for rel, plan in decided.items():
        plans[rel] = plan
    assert len(plans._index._frozen) == 7  # 28 frozen, 2 still recent
    assert len(plans) == 30
    assert all(plans[rel] == plan for rel, plan in decided.items())
    assert "A-99.pdf" not in plans
    assert plans.get("A-99.pdf") is None
    with pytest.raises(KeyError):
        plans["A-99.pdf"]


def test_the_newest_word_on_a_file_wins_and_is_not_counted_twice():
    """The checks turn a planned file invalid after its plan was frozen."""
    plans = Plans()
    plans._index.FREEZE_AT = 2
    plans["A-1.pdf"] = Plan.NEW
    plans["A-2.pdf"] = Plan.NEW  # both frozen now
    plans["A-1.pdf"] = Plan.INVALID
    plans["A-3.pdf"] = Plan.CHANGED  # A-1's new word frozen after the old one
    plans["A-4.pdf"] = Plan.NEW
    assert [plans[f"A-{n}.pdf"] for n in range(1, 5)] == [
        Plan.INVALID,
        Plan.NEW,
        Plan.CHANGED,
        Plan.NEW,
    ]
    assert len(plans) == 4
    assert Plans.of({"B.pdf": Plan.SKIPPED})["B.pdf"] == Plan.SKIPPED


def test_a_hash_index_keeps_drawing_ids_as_a_dict_would():
    """Procore's ids run past 2**32; they survive the frozen arrays whole."""
    index = HashIndex()
    index.FREEZE_AT = 3
    ids = {f"a-{n}": 4_294_967_296 + n * 7 for n in range(10)}
    for number, drawing_id in ids.items():
        index[number] = drawing_id
    assert {number: index[number] for number in ids} == ids
    assert len(index) == 10
    assert "a-10" not in index
    assert HashIndex([("s-1", 5)]).get("s-1") == 5
