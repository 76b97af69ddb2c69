"""The request model behind --dry-run's estimate and the ETA."""

from __future__ import annotations

from bulkimport.estimate import duration, plan_cost


def test_new_numbers_cost_a_drawing_each_existing_ones_do_not():
    cost = plan_cost(["A-1", "A-2", "a-2", "S-9"], existing={"s-9"}, resumed=0, batch_size=50)
    assert (cost.create_drawing, cost.create_upload) == (2, 4)
    assert cost.create_drawing_upload == 1
    assert cost.total == 2 + 4 + 1 + 1


def test_batches_count_resumed_uploads_too():
    cost = plan_cost(["A-1"] * 120, existing={"a-1"}, resumed=30, batch_size=50)
    assert cost.create_drawing_upload == 3
    assert cost.total / 120 < 1.06  # revisions: about one request per drawing


def test_durations_read_naturally():
    assert duration(None) == "unknown"
    assert duration(42) == "42 s"
    assert duration(600) == "10 min"
    assert duration(7200) == "2.0 h"
