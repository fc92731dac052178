"""DB trigger rules as plain data, and the Odoo automated-action semantics applied to one change.

A :class:`Rule` is what detection needs of a ``Trigger`` row, detached from the ORM so the pure
modules and their tests need no database. :func:`fires` decides one (record, change) the way
Odoo's own automated actions do: creation counts as every watched field changed; an update fires
only when a watched field changed, the record matched the *before update domain* before the
change and matches the *apply on* domain after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.detection import domain as dom

CHANGE_CONDITIONS = ("create", "write", "create_or_write")
# Always fetched by change detection: they tell creation, update and de-duplication apart.
LOG_FIELDS = ("write_date", "create_date")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One DB trigger, as detection sees it."""

    id: int
    model: str
    condition: str
    domain: tuple[Any, ...] = ()
    before_domain: tuple[Any, ...] = ()
    watched: tuple[str, ...] = ()
    date_field: str | None = None
    delay: int = 0
    delay_unit: str = "minutes"
    when: str = "after"

    @classmethod
    def from_trigger(cls, trigger: Any) -> Rule:
        """The rule of a ``Trigger`` row (or anything with the same attributes)."""
        return cls(id=trigger.id, model=trigger.model or "", condition=trigger.condition or "",
                   domain=tuple(dom.parse(trigger.domain)),
                   before_domain=tuple(dom.parse(trigger.before_domain)),
                   watched=tuple(trigger.watched_fields), date_field=trigger.date_field,
                   delay=int(trigger.delay or 0), delay_unit=trigger.delay_unit or "minutes",
                   when=trigger.when or "after")

    @property
    def local_domain(self) -> bool:
        """Whether the apply-on domain is decided from fetched values (else Odoo decides)."""
        return dom.is_local(self.domain)

    @property
    def any_write(self) -> bool:
        """Whether every write fires (no watched fields): only a broad fingerprint tells
        two writes within one second apart."""
        return self.condition in ("write", "create_or_write") and not self.watched

    @property
    def needs_old_values(self) -> bool:
        """Whether an update can only be judged with the values before it."""
        return self.condition in ("write", "create_or_write") and bool(
            self.watched or self.before_domain)

    def fields(self) -> set[str]:
        """Record fields this rule reads to decide (beyond id/create_date/write_date)."""
        names = set(self.watched) | dom.fields_of(self.before_domain)
        if self.local_domain:
            names |= dom.fields_of(self.domain)
        if self.condition == "unlink":
            # Deleted records reach handle_db with these values only; the name helps every task.
            names |= {"display_name"}
        if self.condition == "time" and self.date_field:
            names.add(self.date_field)
        names.discard("id")
        return names


def model_fields(rules: Iterable[Rule]) -> list[str]:
    """Sorted union of the fields the rules of one model read."""
    names: set[str] = set()
    for rule in rules:
        names |= rule.fields()
    return sorted(names - set(LOG_FIELDS))


def check(rule: Rule) -> str | None:
    """Why ``rule`` cannot be evaluated, or None when it can."""
    if rule.condition not in (*CHANGE_CONDITIONS, "unlink", "time"):
        return f"unknown condition {rule.condition!r}"
    if rule.before_domain and not dom.is_local(rule.before_domain):
        return ("the before update domain can only use the model's own fields and plain "
                "operators (the old values are not in Odoo any more)")
    if rule.condition == "time" and not rule.date_field:
        return "a timed condition needs a date field"
    return None


def changed(watched: Sequence[str], old: Mapping[str, Any] | None,
            new: Mapping[str, Any]) -> bool:
    """Whether one of ``watched`` differs between old and new values (no old: created)."""
    if old is None or not watched:
        return True
    return any(_norm(old.get(name)) != _norm(new.get(name)) for name in watched)


def _norm(value: Any) -> Any:
    # A many2one reads as [id, name] from Odoo and may come as just an id from auditlog.
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], str) \
            and isinstance(value[0], int):
        return value[0]
    if isinstance(value, (list, tuple)):
        return sorted(value) if all(isinstance(v, int) for v in value) else list(value)
    return value


def fires(rule: Rule, created: bool, old: Mapping[str, Any] | None,
          new: Mapping[str, Any], remote_match: bool | None = None) -> bool:
    """Whether ``rule`` fires for one record change.

    ``old`` holds the values before an update (None when they are unknown, which counts as every
    watched field changed and the before domain met). ``remote_match`` is Odoo's answer for an
    apply-on domain that cannot be evaluated locally (None: evaluate locally).
    """
    if created:
        if rule.condition not in ("create", "create_or_write"):
            return False
    else:
        if rule.condition not in ("write", "create_or_write"):
            return False
        if not changed(rule.watched, old, new):
            return False
        if rule.before_domain and old is not None and not dom.matches(rule.before_domain, old):
            return False
    if remote_match is not None:
        return remote_match
    return dom.matches(rule.domain, new)
