"""The request model behind --dry-run's estimate and the ETA."""

from __future__ import annotations

from bulkimport.estimate import duration, plan_cost


def test_new_numbers_cost_a_drawing_each_existing_ones_do_not():
    numbers = [("a", "a-1"), ("a", "a-2"), ("a", "a-2"), ("a", "s-9"), ("b", "s-9")]
    cost = plan_cost(numbers, existing={("a", "s-9")}, reviewed=0, batch_groups=[5], batch_size=50)
    assert (cost.create_drawing, cost.create_upload) == (3, 5)  # s-9 is new in area b
    assert cost.create_drawing_upload == 1
    assert cost.total == 3 + 5 + 1 + 1


def test_batches_count_per_target_and_resumed_uploads_too():
    cost = plan_cost(
        [("a", "a-1")] * 120, existing={("a", "a-1")}, reviewed=0, batch_groups=[150], batch_size=50
    )
    assert cost.create_drawing_upload == 3
    assert cost.total / 120 < 1.06  # revisions: about one request per drawing
    split = plan_cost([], set(), reviewed=0, batch_groups=[10, 10, 10], batch_size=50)
    assert split.create_drawing_upload == 3  # a batch never mixes areas, sets or review


def test_review_costs_about_one_request_per_drawing():
    cost = plan_cost([], set(), reviewed=100, batch_groups=[100], batch_size=50)
    assert cost.create_drawing == 0
    assert cost.total / 100 == 1.04


def test_durations_read_naturally():
    assert duration(None) == "unknown"
    assert duration(42) == "42 s"
    assert duration(600) == "10 min"
    assert duration(7200) == "2.0 h"
