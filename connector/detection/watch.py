"""One cycle of detection for one (connection, model): RPC in, pure decisions, one commit out.

Each step reads from Odoo first, decides with the pure modules, then writes its jobs, snapshots
and cursor state in ONE own-database transaction guarded by the lease (see :mod:`lease`). A crash
anywhere before that commit leaves the previous state, so the same changes are found again; after
it, they are recorded exactly once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from connector import jobs
from connector.detection import auditlog, changes, lease, snapshots, sources, timed
from connector.detection import domain as dom
from connector.detection import rules as rl
from connector.detection.cursor import CursorState, format_odoo, minus, parse_odoo
from connector.jobstate import UNFINISHED, JobState
from connector.odoo import OdooClient
from connector.store.db import Database
from connector.store.models import Job, Trigger

logger = logging.getLogger("syncstudio.poller")


@dataclasses.dataclass(frozen=True)
class Options:
    """Tuning of detection; the defaults suit a production Odoo."""

    batch_size: int = 200          # records per handle_db job
    page_size: int = 5000          # records per search_read page
    lookback: float = 600.0        # longest transaction whose late commit is still caught
    recent: float = 3.0            # window of an ordinary cycle, seconds before Odoo's now
    deep_every: float = 10.0       # how often a cycle reads the whole look-back window
    deletion_interval: float = 60.0
    timed_interval: float = 60.0
    timed_retries: int = 3         # re-fires of a timed record whose job failed
    lease_ttl: float = 60.0


@dataclasses.dataclass
class Plan:
    """What the rules of one model need."""

    rules: list[rl.Rule]
    fields: list[str]
    change: bool
    unlink: bool
    timed: list[rl.Rule]
    needs_old: bool
    any_write: bool


def plan(rules: Sequence[rl.Rule]) -> Plan:
    """Sort the valid rules of one model by what they need (pure)."""
    change_rules = [r for r in rules if r.condition in (*rl.CHANGE_CONDITIONS, "unlink")]
    return Plan(rules=list(rules), fields=rl.model_fields(change_rules),
                change=bool(change_rules), unlink=any(r.condition == "unlink" for r in rules),
                timed=[r for r in rules if r.condition == "time"],
                needs_old=any(r.needs_old_values for r in rules),
                any_write=any(r.any_write for r in rules))


class ModelWatch:
    """Detection for one (connection, model) during one cycle."""

    def __init__(self, db: Database, client: OdooClient, cursor_id: int, model: str,
                 triggers: dict[int, Trigger], rules: Sequence[rl.Rule], opts: Options,
                 owner: str, now: Callable[[], dt.datetime]) -> None:
        self.db, self.client, self.cursor_id, self.model = db, client, cursor_id, model
        self.triggers, self.opts, self.owner, self.now = triggers, opts, owner, now
        self.plan = plan(rules)
        self.connection_id = 0
        #: ``progress(done, total)`` during a snapshot build (CLI and dashboard show it).
        self.progress: snapshots.Progress | None = None
        #: Seconds from each delivered change's write_date to its job (the dashboard's figure).
        self.latencies: list[float] = []

    # -- the cycle ------------------------------------------------------------------------

    def run(self, connection_id: int, state_json: str | None, force: bool = False) -> int:
        """Run the due steps; returns the number of jobs recorded.

        ``force`` re-takes the baseline (and rebuilds the snapshot) even when it is current.
        """
        self.connection_id = connection_id
        state = CursorState.from_json(json.loads(state_json or "null"))
        if force or self._needs_activation(state):
            self.activate(state)
            return 0
        count = 0
        if self.plan.change:
            count += self.scan_changes(state)
        stamp = self.now().timestamp()
        # Auditlog answers "what was deleted" in one cheap call, so it runs every cycle; the id
        # comparison reads every id of the model and keeps to its own interval.
        if self.plan.unlink and (auditlog.subscribed(state.audit, "unlink")
                                 or stamp - state.deleted_at >= self.opts.deletion_interval):
            count += self.check_deletions(state)
        if self.plan.timed:
            count += self.check_timed(state)
        return count

    def _needs_activation(self, state: CursorState) -> bool:
        if not state.ready or not set(self.plan.fields) <= set(state.fields):
            return True
        if self.plan.any_write and not state.wide:
            return True
        if self.plan.timed and any(str(r.id) not in state.timed for r in self.plan.timed):
            return True
        return self._full_needed(state) and not state.full

    def _full_needed(self, state: CursorState) -> bool:
        # A full snapshot gives old values and the id set for deletions, unless auditlog does.
        # Without capture_record an unlink log says which record went, not what it held.
        old = self.plan.needs_old and not auditlog.subscribed(state.audit, "write")
        gone = self.plan.unlink and not auditlog.captures(state.audit)
        return old or gone

    def _commit(self, state: CursorState, work: Callable[[Any], int]) -> int:
        """Run ``work(session)`` and save ``state`` in one fenced transaction."""
        with self.db.session() as session:
            count = work(session)
            lease.fence(session, self.cursor_id, self.owner, self.now(), self.opts.lease_ttl,
                        state_json=json.dumps(state.to_json()), last_write_date=state.high)
        return count

    def _record(self, session: Any, rule_id: int, ids: Sequence[int],
                extra: dict[int, Any] | None = None) -> list[tuple[int, list[int]]]:
        """Jobs of ``rule_id`` for ``ids``, batched in id order: [(job id, ids of the job)]."""
        trigger = session.get(Trigger, rule_id)
        made = []
        for chunk in changes.batches(sorted(set(ids)), self.opts.batch_size):
            args: list[Any] = [self.model, chunk]
            if extra is not None:
                args.append({"deleted": {str(i): extra.get(i, {}) for i in chunk}})
            made.append((jobs.record_trigger_job(session, trigger, args=args).id, chunk))
        return made

    # -- activation -----------------------------------------------------------------------

    def activate(self, state: CursorState) -> None:
        """Take the baseline: existing records and past changes are not events."""
        client, now = self.client, self.now()
        fresh = CursorState(fields=self.plan.fields, timed=state.timed)
        if self.plan.needs_old or self.plan.unlink:
            fresh.audit = sources.auditlog_rule(client, self.model)
        if self.plan.unlink and auditlog.subscribed(fresh.audit, "unlink"):
            # Deletions logged before the trigger existed are history, not events; a
            # re-activation keeps the floor so deletions since the last cycle are not lost.
            if state.ready and state.unlink_floor is not None:
                fresh.unlink_floor, fresh.unlink_seen = state.unlink_floor, state.unlink_seen
                fresh.unlink_high = state.unlink_high
            else:
                fresh.unlink_floor = sources.newest_log_id(client, self.model, "unlink")
        types: dict[str, str] = {}
        if self.plan.timed or fresh.audit or self.plan.any_write:
            types, broad = sources.describe(client, self.model)
            if self.plan.any_write:
                fresh.extra = [name for name in broad if name not in self.plan.fields]
                fresh.wide = True
        fresh.types = {name: types[name] for name in self.plan.fields if name in types}
        fresh.high = sources.newest_write(client, self.model) if self.plan.change else None
        fresh.horizon = minus(fresh.high, self.opts.lookback) if fresh.high else None
        if self.plan.change:
            if self._full_needed(fresh):
                logger.info("building the snapshot of %s (%s)", self.model,
                            ", ".join(self.plan.fields) or "ids only")
                snapshots.build(self.db.session, client, self.connection_id, self.model,
                                self.plan.fields, page=max(self.opts.page_size, 2000),
                                extra=fresh.extra, progress=self.progress)
                fresh.full = True
            else:
                self._baseline(fresh)
        start = format_odoo(now.replace(microsecond=0))
        for rule in self.plan.timed:
            entry = fresh.timed.setdefault(str(rule.id), {"last_run": start, "jobs": {}})
            entry["date_only"] = types.get(rule.date_field or "") == "date"
        fresh.deep_at = fresh.deleted_at = now.timestamp()
        fresh.ready = True
        self._commit(fresh, lambda session: 0)

    def _baseline(self, fresh: CursorState) -> None:
        """Snapshots of the records in the look-back window only (no old values needed)."""
        with self.db.session() as session:
            snapshots.clear(session, self.connection_id, self.model)
        domain = [("write_date", ">=", fresh.horizon)] if fresh.horizon else []
        fields = list(dict.fromkeys([*sources.LOG_FIELDS, *fresh.fields, *fresh.extra]))
        for rows in sources.pages(self.client, self.model, domain, fields, self.opts.page_size):
            with self.db.session() as session:
                snapshots.save(session, self.connection_id, self.model,
                               snapshots.rows_as_changes(rows, fresh.fields, fresh.extra), {})

    # -- changes --------------------------------------------------------------------------

    def scan_changes(self, state: CursorState) -> int:
        """Read the window page by page, keep the new versions, fire the create/write rules.

        Each page with changes commits its snapshots and jobs together: the snapshots are what
        tells a version already delivered, so a crash between pages re-finds only the pages not
        committed, and memory stays at one page however large the window.
        """
        stamp = self.now().timestamp()
        since, deep = state.scan_since(stamp, lookback=self.opts.lookback,
                                       recent=self.opts.recent, deep_every=self.opts.deep_every)
        domain = [("write_date", ">=", since)] if since else []
        fields = list(dict.fromkeys([*sources.LOG_FIELDS, *state.fields, *state.extra]))
        newest, count = "", 0
        for rows in sources.pages(self.client, self.model, domain, fields, self.opts.page_size):
            newest = max(newest, *(row.get("write_date") or "" for row in rows))
            with self.db.session() as session:
                known = snapshots.load(session, self.connection_id, self.model,
                                       [int(row["id"]) for row in rows])
            found = changes.classify(rows, known, state.fields, state.horizon, state.extra)
            if found:
                count += self._deliver(state, found, known)
        state.observe(newest or None, self.now().timestamp())  # time after reading: see cursor
        if deep:
            state.deep_at = stamp
        return count + self._commit(state, lambda session: 0)

    def _deliver(self, state: CursorState, found: list[changes.Change],
                 known: dict[int, changes.Known]) -> int:
        """Fire the rules for one page of changes; snapshots and jobs in one transaction."""
        if self.plan.needs_old and auditlog.subscribed(state.audit, "write"):
            found = self._old_from_auditlog(state, found)
        fired: dict[int, list[int]] = {}
        for rule in self.plan.rules:
            if rule.condition not in rl.CHANGE_CONDITIONS:
                continue
            try:
                remote = None if rule.local_domain else self._remote(rule, found)
                fired.update(changes.events([rule], found, remote))
            except dom.Unsupported:
                # A value the domain cannot be judged on locally (a name for a many2one):
                # Odoo decides the apply-on domain for this page instead.
                fired.update(changes.events([rule], found, self._remote(rule, found)))
        with self.db.session() as session:
            snapshots.save(session, self.connection_id, self.model, found, known)
            count = sum(len(self._record(session, rule_id, ids)) for rule_id, ids in fired.items())
            lease.fence(session, self.cursor_id, self.owner, self.now(), self.opts.lease_ttl)
        self._measure(found, {rid for ids in fired.values() for rid in ids})
        return count

    def _measure(self, found: list[changes.Change], fired: set[int]) -> None:
        now = self.now()
        for change in found:
            if change.id in fired and change.write_date:
                self.latencies.append((now - parse_odoo(change.write_date)).total_seconds())

    def _remote(self, rule: rl.Rule, found: list[changes.Change]) -> dict[int, set[int]]:
        """Odoo's answer for ``rule``'s apply-on domain on the candidate records."""
        candidates = changes.candidates(rule, found)
        return {rule.id: sources.matching(self.client, self.model, candidates, list(rule.domain),
                                          self.opts.page_size)}

    def _old_from_auditlog(self, state: CursorState,
                           found: list[changes.Change]) -> list[changes.Change]:
        unknown = [c.id for c in found if c.old is None and not c.created]
        if not unknown:
            return found
        since = state.horizon or minus(state.high or format_odoo(self.now()), self.opts.lookback)
        logs = sources.auditlog_logs(self.client, self.model, "write", since, unknown)
        by_record: dict[int, list[int]] = {}
        for log in logs:
            by_record.setdefault(int(log["res_id"]), []).append(int(log["id"]))
        lines = auditlog.lines_by_log(sources.auditlog_lines(
            self.client, [log_id for ids in by_record.values() for log_id in ids], state.fields))
        result = []
        for change in found:
            if change.id in by_record:
                record_lines = [line for log_id in by_record[change.id]
                                for line in lines.get(log_id, [])]
                old = auditlog.old_values(change.new, record_lines, state.types)
                change = dataclasses.replace(change, old=old)
            result.append(change)
        return result

    # -- deletions ------------------------------------------------------------------------

    def check_deletions(self, state: CursorState) -> int:
        """Find deleted records (auditlog, else id comparison) and fire the unlink rules."""
        if auditlog.subscribed(state.audit, "unlink"):
            values = self._deleted_from_auditlog(state)
        else:
            present = sources.all_ids(self.client, self.model)
            with self.db.session() as session:
                gone = [rid for rid in snapshots.load_ids(session, self.connection_id, self.model)
                        if rid not in present]
            values = {rid: {} for rid in gone}
        unknown = set()
        with self.db.session() as session:
            known = snapshots.load(session, self.connection_id, self.model, values)
        for rid in values:
            if rid in known:
                values[rid] = {**known[rid].values, **values[rid]}
            elif not values[rid]:
                unknown.add(rid)
        for rid, vals in values.items():
            vals.setdefault("display_name", vals.get("name", False))
            vals["id"] = rid
        state.deleted_at = self.now().timestamp()

        def work(session: Any) -> int:
            count = 0
            for rule in self.plan.rules:
                if rule.condition == "unlink":
                    ids = self._deleted_for(rule, values, unknown)
                    count += len(self._record(session, rule.id, ids, values))
            snapshots.remove(session, self.connection_id, self.model, values)
            return count

        return self._commit(state, work)

    def _deleted_from_auditlog(self, state: CursorState) -> dict[int, dict[str, Any]]:
        """Records deleted since the last cycle, with their logged values when captured.

        Ordinary cycles ask for logs newer than any seen; every ``deep_every`` seconds the
        look-back window is read again for a log whose transaction committed late.
        """
        stamp = self.now().timestamp()
        floor = state.unlink_floor or 0
        since = None
        if stamp - state.unlink_deep_at >= self.opts.deep_every:
            newest = max([state.high or "", *state.unlink_seen.values()]) or format_odoo(
                self.now())
            since = minus(newest, self.opts.lookback)
            state.prune_unlinks(since)
            state.unlink_deep_at = stamp
        after = floor if since else max(floor, state.unlink_high)
        logs = [log for log in sources.auditlog_unlinks(self.client, self.model, after, since)
                if str(log["id"]) not in state.unlink_seen]
        lines: dict[int, list[Any]] = {}
        if auditlog.captures(state.audit):
            lines = auditlog.lines_by_log(sources.auditlog_lines(
                self.client, [int(log["id"]) for log in logs], [*state.fields, "name"]))
        values: dict[int, dict[str, Any]] = {}
        for log in logs:
            state.unlink_seen[str(log["id"])] = log["create_date"]
            state.unlink_high = max(state.unlink_high, int(log["id"]))
            values[int(log["res_id"])] = auditlog.last_values(
                lines.get(int(log["id"]), []), state.types)
        return values

    def _deleted_for(self, rule: rl.Rule, values: dict[int, dict[str, Any]],
                     unknown: set[int]) -> list[int]:
        """The deleted records ``rule`` fires for; unknown values never pass a domain."""
        ids = []
        for rid, vals in values.items():
            if rule.domain and rid in unknown:
                logger.warning(
                    "deleted %s %s not delivered to trigger %s: its values are unknown, so its "
                    "domain cannot be checked (it was created and deleted between two polls, "
                    "and the auditlog rule does not capture_record; turn capture_record on to "
                    "deliver such records)", self.model, rid, self.triggers[rule.id].trigger_name
                    if rule.id in self.triggers else rule.id)
            elif _deleted_match(rule, vals):
                ids.append(rid)
        return ids

    # -- timed conditions -----------------------------------------------------------------

    def check_timed(self, state: CursorState) -> int:
        """Fire each timed rule for the records whose date ± delay entered (last_run, now]."""
        now = self.now().replace(microsecond=0)
        due: dict[int, list[int]] = {}
        for rule in self.plan.timed:
            entry = state.timed[str(rule.id)]
            last_run = parse_odoo(entry["last_run"])
            if (now - last_run).total_seconds() < self.opts.timed_interval:
                continue
            domain = [*timed.window_domain(rule, last_run, now, entry.get("date_only", False)),
                      *rule.domain]
            rows: list[dict[str, Any]] = []
            for chunk in sources.pages(self.client, self.model, domain, [rule.date_field or ""],
                                       self.opts.page_size):
                rows.extend(chunk)
            due[rule.id] = timed.due_ids(rule, rows, last_run, now)
        if not due:
            return 0

        def work(session: Any) -> int:
            count = 0
            for rule_id, ids in due.items():
                entry = state.timed[str(rule_id)]
                # Failed jobs of earlier windows first: their records must not be skipped for ever.
                for retry_ids, tries in [*self._failed_again(session, entry), (ids, 0)]:
                    for job_id, chunk in self._record(session, rule_id, retry_ids):
                        entry["jobs"][str(job_id)] = [chunk, tries]
                        count += 1
                entry["last_run"] = format_odoo(now)
            return count

        return self._commit(state, work)

    def _failed_again(self, session: Any,
                      entry: dict[str, Any]) -> list[tuple[list[int], int]]:
        """(ids, try number) of failed timed jobs to fire again; forgets finished jobs."""
        again: list[tuple[list[int], int]] = []
        keep: dict[str, Any] = {}
        known = [int(job_id) for job_id in entry["jobs"]]
        states = dict(session.execute(select(Job.id, Job.state).where(Job.id.in_(known))).all()
                      ) if known else {}
        for job_id, (ids, tries) in entry["jobs"].items():
            job_state = states.get(int(job_id))
            if job_state == JobState.FAILED and tries < self.opts.timed_retries:
                again.append((ids, tries + 1))
            elif job_state in UNFINISHED:
                keep[job_id] = [ids, tries]
        entry["jobs"] = keep
        return again


def _deleted_match(rule: rl.Rule, values: dict[str, Any]) -> bool:
    """Apply-on domain on a deleted record's last values; unknown fields let it through."""
    try:
        return dom.matches(list(rule.domain), values)
    except dom.Unsupported:
        return True  # Odoo cannot be asked about a deleted record; deliver rather than lose
