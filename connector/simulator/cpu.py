"""What a password check costs on a real Odoo 17, and how overlapping checks share the CPU.

Odoo hashes passwords with pbkdf2-sha512 at 600,000 rounds: a login (``common.login``,
``common.authenticate``, ``/web/session/authenticate``) costs about 0.5 s of CPU on a small
server, and two logins that overlap take 1.4–1.7 s each (they share the cores, and the
threaded server adds its own contention). The first ``execute_kw`` with a given uid and
password pays one such check too; Odoo caches the result per (uid, password), so later calls
cost a few milliseconds.

:class:`HashCpu` reproduces that without burning the machine's CPU (the simulator often shares
a small machine with the process being measured): each check needs ``seconds`` of "work"; while
``n`` checks run at once, each one advances at ``1 / (n * contention)`` of real time, so one
check alone takes ``seconds`` and two that start together take ``2 * contention * seconds``.
"""

from __future__ import annotations

import threading
import time

#: Seconds of one uncontended login on the recorded Odoo 17 (0.45–0.55 s measured).
DEFAULT_LOGIN_COST = 0.5
#: Extra slowdown when checks overlap: two together took 1.4–1.7 s instead of 1.0 s.
DEFAULT_CONTENTION = 1.5
_TICK = 0.01  # how often a waiting check looks at how many others share the CPU


class HashCpu:
    """The CPU that password checks of one simulated server share (thread-safe)."""

    def __init__(self, contention: float = DEFAULT_CONTENTION) -> None:
        if contention < 1:
            raise ValueError("contention must be at least 1 (1 = checks share the CPU fairly)")
        self.contention = float(contention)
        self._lock = threading.Lock()
        self._active = 0

    @property
    def active(self) -> int:
        """How many checks are hashing now."""
        with self._lock:
            return self._active

    def spend(self, seconds: float) -> None:
        """Block for one check that needs ``seconds`` of uncontended CPU."""
        if seconds <= 0:
            return
        with self._lock:
            self._active += 1
        try:
            left = float(seconds)
            last = time.monotonic()
            while left > 0:
                with self._lock:
                    sharing = self._active
                rate = 1.0 if sharing <= 1 else 1.0 / (sharing * self.contention)
                time.sleep(min(_TICK, left / rate))
                now = time.monotonic()
                left -= (now - last) * rate
                last = now
        finally:
            with self._lock:
                self._active -= 1
