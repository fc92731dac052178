"""The retry schedule of jobs that raise ``RetryableJobError``: a pure function."""

from __future__ import annotations

from collections.abc import Sequence

from connector.settings import Settings

#: ``SYNCSTUDIO_RETRY_DELAYS``' default: 5 min, 15 min, 60 min, 3 h; the fifth failure fails
#: the job.
DEFAULT_DELAYS: tuple[float, ...] = Settings.default("retry_delays")


def retry_delay(attempts: int, delays: Sequence[float] = DEFAULT_DELAYS,
                max_retries: int | None = None) -> float | None:
    """Seconds to wait before the next try after ``attempts`` failed tries, or None to give up.

    ``max_retries`` is OCA queue_job's: None uses the schedule's length, 0 retries for ever (the
    last delay repeating), N allows N retries.
    """
    if attempts < 1:
        raise ValueError("attempts counts the tries made so far and starts at 1")
    limit = len(delays) if max_retries is None else max_retries
    if limit != 0 and attempts > limit:
        return None
    if not delays:
        return 0.0
    return float(delays[min(attempts, len(delays)) - 1])
