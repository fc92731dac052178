"""Pure creation detection: same-second records are neither lost nor delivered twice."""

from __future__ import annotations

from connector.detection.creation import CreationCursor, batches, domain_since, new_records


def rows(*pairs):
    return [{"id": rid, "create_date": date} for rid, date in pairs]


def test_first_read_delivers_everything_in_id_order():
    new, cursor = new_records(rows((3, "2026-01-01 10:00:01"), (1, "2026-01-01 10:00:00"),
                                   (2, "2026-01-01 10:00:01")), CreationCursor())
    assert new == [1, 2, 3]
    assert cursor == CreationCursor("2026-01-01 10:00:01", frozenset({2, 3}))


def test_same_second_records_seen_again_are_not_repeated_but_new_ones_are():
    cursor = CreationCursor("2026-01-01 10:00:01", frozenset({2, 3}))
    assert domain_since(cursor) == [("create_date", ">=", "2026-01-01 10:00:01")]
    new, advanced = new_records(rows((2, "2026-01-01 10:00:01"), (3, "2026-01-01 10:00:01"),
                                     (4, "2026-01-01 10:00:01")), cursor)
    assert new == [4]
    assert advanced.seen == {2, 3, 4}
    new, advanced = new_records(rows((4, "2026-01-01 10:00:01"), (5, "2026-01-01 10:00:02")),
                                advanced)
    assert new == [5]
    assert advanced == CreationCursor("2026-01-01 10:00:02", frozenset({5}))


def test_nothing_new_keeps_the_cursor_and_state_round_trips():
    cursor = CreationCursor("2026-01-01 10:00:01", frozenset({7}))
    new, same = new_records(rows((7, "2026-01-01 10:00:01")), cursor)
    assert new == [] and same == cursor
    assert CreationCursor.from_state(cursor.to_state()) == cursor
    assert CreationCursor.from_state(None) == CreationCursor()
    assert domain_since(CreationCursor()) == []


def test_batches_keep_order_and_size():
    assert batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert batches([], 3) == []
