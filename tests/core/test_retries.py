"""The retry schedule is a pure function of the attempts made."""

from __future__ import annotations

import pytest

from worker.retries import DEFAULT_DELAYS, retry_delay


def test_default_schedule_then_give_up_on_the_fifth_failure():
    assert [retry_delay(n) for n in range(1, 5)] == [300.0, 900.0, 3600.0, 10800.0]
    assert retry_delay(5) is None
    assert DEFAULT_DELAYS == (300.0, 900.0, 3600.0, 10800.0)


def test_max_retries_limits_and_zero_means_forever():
    assert retry_delay(1, (1.0, 2.0), max_retries=1) == 1.0
    assert retry_delay(2, (1.0, 2.0), max_retries=1) is None
    assert retry_delay(50, (1.0, 2.0), max_retries=0) == 2.0


def test_attempts_start_at_one():
    with pytest.raises(ValueError):
        retry_delay(0)
