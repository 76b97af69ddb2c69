"""When a ticket is too old to start its POST."""

from __future__ import annotations

from bulkimport.models import Ticket
from bulkimport.stages.uploader import too_old


def ticket(issued: float, life: float) -> Ticket:
    return Ticket("u", "http://127.0.0.1/b", (), issued_at=issued, expires_at=issued + life)


def test_an_hour_ticket_with_plenty_left_is_used():
    assert not too_old(ticket(0, 3600), 10_000_000, margin=120, now=600)


def test_near_the_margin_plus_the_files_time_it_is_replaced():
    # 120 s margin + 100 MB at 256 KB/s (about 381 s): 400 s left is not enough.
    assert too_old(ticket(0, 3600), 100_000_000, margin=120, now=3200)


def test_short_lived_tickets_are_judged_by_half_their_life():
    assert not too_old(ticket(0, 4), 1000, margin=120, now=1.0)  # 3 of 4 s left
    assert too_old(ticket(0, 4), 1000, margin=120, now=2.5)  # 1.5 s left: under half
