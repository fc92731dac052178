"""Run a handler in a separate, resource-limited OS process: the sandbox's public entry.

RestrictedPython limits what code can *name*; it cannot stop ``while True: pass``,
``10 ** 10 ** 10`` or ``'x' * 10 ** 10``. So each run happens in a sandbox process with, per
job, a CPU-time limit, a memory limit and a wall-clock limit (:class:`Limits`), confined by the
kernel (:mod:`worker.runtime.confinement`). The parts:

* :mod:`worker.runtime.pool` – the worker's side: a pool of warm sandbox processes;
* :mod:`worker.runtime.template` – the template process that forks them;
* :mod:`worker.runtime.child` – the sandbox process's side: one job after another;
* :mod:`worker.runtime.protocol` – what crosses between the two sides.

This module holds the process's default pool, which :func:`run_isolated` uses. Whoever starts
a worker or a web process calls :func:`configure_sandboxes` with its settings first (the user
sandboxes run as, the paths they may never read, the pool's size); until then the defaults of
the settings apply. Nothing is started before the first job or :func:`warm_up`.

Errors come back as the same exception classes when the parent knows them (``UserError``,
``RetryableJobError``, ``CodeError``, built-in exceptions …), with the user-code traceback
(secrets masked) in their ``user_traceback`` attribute; other classes (defined by user code)
become :class:`UserCodeError`.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.settings import Settings
from worker.runtime.pool import SandboxPool
from worker.runtime.protocol import Limits, UserCodeError
from worker.runtime.template import Template, reset_shared_templates, shared_templates

__all__ = ["Limits", "UserCodeError", "close_default_pool", "configure_default_pool",
           "configure_sandboxes", "default_pool", "run_isolated", "warm_up", "zygote"]

_DEFAULT: SandboxPool | None = None
_DEFAULT_LOCK = threading.Lock()
_HOOKED = False


def _hook_once() -> None:
    # Called with _DEFAULT_LOCK held, when the first default pool is made.
    global _HOOKED
    if not _HOOKED:
        _HOOKED = True
        os.register_at_fork(after_in_child=_forget_after_fork)
        atexit.register(close_default_pool)


def default_pool() -> SandboxPool:
    """The process's pool of :func:`run_isolated`, made on first use."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = SandboxPool()
            _hook_once()
        return _DEFAULT


def configure_sandboxes(settings: Settings) -> SandboxPool:
    """Apply ``settings`` to the process's sandboxes and return the default pool.

    Sandboxes forked from now on run as ``settings.sandbox_user`` and may not read the
    service's home or database file; a new default pool is sized from the settings (an
    existing one keeps its size, which callers :meth:`~SandboxPool.resize`).
    """
    global _DEFAULT
    shared_templates().configure(user=settings.sandbox_user, private=settings.private_paths)
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = SandboxPool(max_size=settings.worker_threads)
            _hook_once()
        pool = _DEFAULT
    pool.max_jobs = settings.sandbox_max_jobs
    pool.max_rss_growth = int(settings.sandbox_max_rss_growth_mb * 1024 * 1024)
    return pool


def configure_default_pool(**options: Any) -> SandboxPool:
    """Replace the default pool by ``SandboxPool(**options)`` (the old one is closed)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        old, _DEFAULT = _DEFAULT, SandboxPool(**options)
        _hook_once()
    if old is not None:
        old.close()
    return _DEFAULT


def close_default_pool() -> None:
    """Kill the default pool's processes and the template processes (worker shutdown)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        pool, _DEFAULT = _DEFAULT, None
    if pool is not None:
        pool.close()
    reset_shared_templates()


def _forget_after_fork() -> None:
    # A forked copy of this process must not drive the parent's sandboxes.
    global _DEFAULT, _DEFAULT_LOCK
    _DEFAULT, _DEFAULT_LOCK = None, threading.Lock()


def zygote(preload: Iterable[str] = ()) -> Template:
    """The template process sandboxes are forked from, started now if need be (``preload``
    adds modules it imports)."""
    return shared_templates().get(preload)


def run_isolated(*, connection: Mapping[str, Any] | Callable[[], Any] | None,
                 limits: Limits | None = None,
                 log: Callable[[str, str], None] | None = None,
                 log_transmission: Callable[[str, str], None] | None = None,
                 add_job: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """:func:`run_handler` in a sandbox process with CPU, memory and wall-clock limits.

    ``connection`` holds the keyword arguments of :func:`connector.odoo.make_client` (or is a
    picklable factory returning a client, or None for no client). ``log``/
    ``log_transmission``/``add_job`` are called here, in the parent, as the child reports;
    so are the methods of ``link_store`` (a :class:`connector.links.LinkStore`), which the
    child's link functions call: the child never opens the own database. Every other
    keyword goes to ``run_handler`` and must be picklable. Raises
    :class:`SandboxLimitExceeded` when a limit is hit. The process comes from
    :func:`default_pool`.
    """
    return default_pool().run(connection=connection, limits=limits, log=log,
                              log_transmission=log_transmission, add_job=add_job, **kwargs)


def warm_up(preload: Iterable[str] = (), processes: int = 1) -> None:
    """Start the sandbox processes now (the first run is otherwise slower).

    ``preload`` adds modules the template process imports once for all sandbox processes.
    """
    zygote(preload)
    default_pool().warm_up(processes)
