"""Whether the poller can watch a trigger, and the back-off of what it cannot reach.

Trouble is kept where it belongs: a connection that is down or refuses the login delays only
its own models; a model or trigger Odoo refuses gets an error state with the reason, and the
others on the same connection go on. Everything here is plain bookkeeping; time is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from connector.detection import domain as dom
from connector.detection import rules as rl
from connector.odoo import OdooClient
from connector.odoo.errors import AuthenticationError, OdooRemoteError, OdooUnreachable

OK, ERROR, WAITING = "ok", "error", "waiting"


def backoff_delay(failures: int, base: float, cap: float = 60.0) -> float:
    """Seconds to wait after ``failures`` failed cycles in a row: doubling, capped."""
    if failures <= 0:
        return base
    return min(cap, base * (2 ** min(failures, 16)))


@dataclasses.dataclass
class Backoff:
    """Failures in a row of one thing (a connection, a model) and when to try it again."""

    failures: int = 0
    retry_at: float = 0.0
    error: str | None = None

    def due(self, now: float) -> bool:
        """Whether it may be tried at ``now``."""
        return self.failures == 0 or now >= self.retry_at

    def failed(self, error: str, now: float, base: float, cap: float) -> bool:
        """Count one failure; True when it is a new trouble (worth one log line)."""
        new = self.failures == 0
        self.failures += 1
        self.error = error
        self.retry_at = now + backoff_delay(self.failures - 1, base, cap)
        return new

    def succeeded(self) -> int:
        """Forget the failures; returns how many there were."""
        failures, self.failures, self.error, self.retry_at = self.failures, 0, None, 0.0
        return failures


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` concerns the whole connection (down, timeout, refused login)."""
    return isinstance(exc, OdooUnreachable | AuthenticationError)


def describe(exc: BaseException) -> str:
    """A one-line reason for a state display."""
    if isinstance(exc, OdooRemoteError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, OdooUnreachable | AuthenticationError) else (
        f"{type(exc).__name__}: {text}")


def signature(rule: rl.Rule) -> tuple[Any, ...]:
    """What of a rule decides whether Odoo accepts it (a changed trigger is checked again)."""
    return (rule.model, rule.condition, rule.domain, rule.before_domain, rule.watched,
            rule.date_field)


def problems(client: OdooClient, model: str, rules: Iterable[rl.Rule]) -> dict[int, str]:
    """Why Odoo cannot serve each rule (rule id → reason); healthy rules are left out.

    One ``fields_get`` of the model, plus one ``search`` per rule whose apply-on domain Odoo
    decides. Connection errors are raised: they are not the rule's fault.
    """
    rules = list(rules)
    try:
        info = client.fields_get(model, ["type"])
    except OdooRemoteError as exc:
        reason = (f"Odoo has no model {model!r} (or the user may not read it): "
                  f"{' '.join(exc.message.split())} — check the trigger's model")
        return {rule.id: reason for rule in rules}
    found: dict[int, str] = {}
    for rule in rules:
        names = _fields(rule)
        missing = sorted(name for name in names if name not in info)
        if missing:
            found[rule.id] = (f"{model} has no field {', '.join(map(repr, missing))} — check "
                              "the trigger's domain, watched fields and date field")
            continue
        if rule.domain and not rule.local_domain:
            try:
                client.search(model, [("id", "=", 0), *rule.domain], limit=1)
            except OdooRemoteError as exc:
                found[rule.id] = (f"Odoo refuses the apply-on domain: "
                                  f"{' '.join(exc.message.split())} — fix the trigger's domain")
    return found


def _fields(rule: rl.Rule) -> set[str]:
    names = set(rule.watched) | dom.fields_of(rule.before_domain) | dom.fields_of(rule.domain)
    if rule.date_field:
        names.add(rule.date_field)
    names.discard("id")
    return names


def states_changed(old: Mapping[int, tuple[str, str | None]],
                   new: Mapping[int, tuple[str, str | None]]) -> dict[int, tuple[str, str | None]]:
    """The entries of ``new`` that differ from ``old`` (what must be written)."""
    return {key: value for key, value in new.items() if old.get(key) != value}
