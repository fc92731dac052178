"""Recordsets over RPC against the Odoo simulator, counting the calls they make."""

from __future__ import annotations

import datetime
import textwrap

import pytest

from worker.runtime import Environment, MissingError, RecordSet, run_handler


class Spy:
    """Delegates to the real client and records what each ``read`` asked for."""

    def __init__(self, client) -> None:
        self.client = client
        self.reads: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = []

    def read(self, model, ids, fields, context=None):
        self.reads.append((model, tuple(ids), tuple(fields)))
        return self.client.read(model, ids, fields, context=context)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def spy(client) -> Spy:
    return Spy(client)


@pytest.fixture
def partners(client) -> list[int]:
    """100 fresh partners, half with a parent company."""
    company = client.create("res.partner", {"name": "ACME", "is_company": True})
    ids = client.create("res.partner", [
        {"name": f"Runtime {i:03d}", "email": f"p{i}@example.com",
         "parent_id": company if i % 2 else False} for i in range(100)])
    client.calls.clear()
    yield ids
    client.unlink("res.partner", ids + [company])


def test_reading_a_field_on_100_records_is_one_read_of_that_field(client, simulator, spy,
                                                                  partners):
    simulator.reset_calls()
    env = Environment(spy)
    records = env["res.partner"].browse(partners)
    names = [record.name for record in records]
    assert names == [f"Runtime {i:03d}" for i in range(100)]
    assert client.calls[("res.partner", "read")] == 1
    assert spy.reads == [("res.partner", tuple(partners), ("name",))]
    assert client.calls[("res.partner", "fields_get")] == 1
    # The server saw the same: one read, one fields_get, nothing else.
    assert sum(simulator.calls.values()) == 2
    assert simulator.calls[("res.partner", "read")] == 1


def test_second_field_is_one_more_read_of_that_field_only(client, spy, partners):
    env = Environment(spy)
    records = env["res.partner"].browse(partners)
    for record in records:
        assert record.name
        assert record.email.endswith("@example.com")
    assert [fields for _, _, fields in spy.reads] == [("name",), ("email",)]
    assert client.calls[("res.partner", "fields_get")] == 1
    assert sum(client.calls.values()) == 3  # fields_get + 2 reads


def test_search_then_loop_reads_once(client, spy, partners):
    env = Environment(spy)
    found = env["res.partner"].search([("name", "like", "Runtime %")], order="id")
    assert len(found) == 100
    assert found.mapped("email")[0] == "p0@example.com"
    assert client.calls[("res.partner", "search")] == 1
    assert client.calls[("res.partner", "read")] == 1


def test_many2one_values_are_prefetched_for_the_whole_recordset(client, spy, partners):
    env = Environment(spy)
    records = env["res.partner"].browse(partners)
    parents = [record.parent_id for record in records]
    assert all(isinstance(p, RecordSet) for p in parents)
    assert parents[0].id is False and not parents[0]
    names = [p.name for p in parents if p]
    assert set(names) == {"ACME"}
    # parent_id for the 100 records, then name of the one parent: two reads in all.
    assert client.calls[("res.partner", "read")] == 2
    assert records.mapped("parent_id.name") == ["ACME"]
    assert client.calls[("res.partner", "read")] == 2


def test_one2many_gives_a_recordset(client, spy, partners):
    env = Environment(spy)
    company = env["res.partner"].browse(partners[1]).parent_id
    children = company.child_ids
    assert isinstance(children, RecordSet) and children._name == "res.partner"
    assert set(partners[1::2]) <= set(children.ids)
    reads = client.calls[("res.partner", "read")]
    assert len(children.mapped("name")) == len(children)
    assert client.calls[("res.partner", "read")] == reads + 1


def test_write_is_one_call_and_invalidates_the_cache(client, spy, partners):
    env = Environment(spy)
    records = env["res.partner"].browse(partners)
    assert records[0].name == "Runtime 000"
    assert records.write({"comment": "seen", "name": "Renamed"}) is True
    assert client.calls[("res.partner", "write")] == 1
    assert records[0].name == "Renamed"
    assert records[99].name == "Renamed"
    assert client.calls[("res.partner", "read")] == 2  # one before, one after the write


def test_write_converts_records_and_dates(client, spy, partners):
    env = Environment(spy)
    record = env["res.partner"].browse(partners[0])
    company = env["res.partner"].browse(partners[1]).parent_id
    record.write({"parent_id": company})
    assert record.parent_id == company
    assert record in company.child_ids  # inverse relation re-read after the write


def test_create_dict_and_list(client, spy):
    env = Environment(spy)
    one = env["res.partner"].create({"name": "Runtime single"})
    assert len(one) == 1 and one.name == "Runtime single"
    many = env["res.partner"].create([{"name": "Runtime a"}, {"name": "Runtime b"}])
    assert len(many) == 2 and many.mapped("name") == ["Runtime a", "Runtime b"]
    assert client.calls[("res.partner", "create")] == 2
    (one | many).unlink()
    assert client.calls[("res.partner", "unlink")] == 1


def test_unlink_exists_and_missing_records(client, spy):
    env = Environment(spy)
    records = env["res.partner"].create([{"name": "Runtime gone"}, {"name": "Runtime kept"}])
    gone, kept = records[0], records[1]
    gone.unlink()
    assert records.exists() == kept
    with pytest.raises(MissingError):
        gone.name  # noqa: B018
    assert kept.name == "Runtime kept"
    kept.unlink()
    assert not records.exists()


def test_recordset_operations(client, spy, partners):
    env = Environment(spy)
    model = env["res.partner"]
    records = model.browse(partners[:10])
    assert records[2:4].ids == partners[2:4]
    assert (records[:3] | records[2:5]).ids == partners[:5]
    assert (records[:3] & records[2:5]).ids == partners[2:3]
    assert (records - records[:8]).ids == partners[8:10]
    assert records[0] in records and records[0] == model.browse(partners[0])
    assert records.filtered(lambda r: r.parent_id).ids == partners[1:10:2]
    assert records.filtered("parent_id").ids == partners[1:10:2]
    assert records.sorted(key="name", reverse=True).ids == list(reversed(partners[:10]))
    assert records.sorted(key=lambda r: r.email).ids == partners[:10]
    assert len(records.sorted()) == 10
    assert model.search_count([("name", "like", "Runtime %")]) == 100
    with pytest.raises(ValueError, match="Expected singleton"):
        records.name  # noqa: B018
    with pytest.raises(ValueError, match="Expected singleton"):
        records.ensure_one()
    assert records[0].ensure_one() == records[0]
    assert records[0].display_name == "Runtime 000"
    assert records[:2].name_get() == [(partners[0], "Runtime 000"),
                                      (partners[1], "ACME, Runtime 001")]
    assert records[0]["email"] == "p0@example.com"
    rows = records[:2].read(["name"])
    assert [row["name"] for row in rows] == ["Runtime 000", "Runtime 001"]


def test_dates_are_python_values(client, spy, partners):
    env = Environment(spy)
    assert isinstance(env["res.partner"].browse(partners[0]).write_date, datetime.datetime)


def test_env_user_and_context(client, spy):
    env = Environment(spy)
    assert env.user.id == client.uid
    assert env.user.login == "admin"
    assert env.with_context(lang="en_US").context == {"lang": "en_US"}
    assert env.context == {}


def test_message_post(client, simulator, spy, partners):
    env = Environment(spy)
    record = env["res.partner"].browse(partners[0])
    message = record.message_post(body="Hello from a task")
    assert message._name == "mail.message" and len(message) == 1
    assert client.calls[("res.partner", "message_post")] == 1


def test_task_code_end_to_end_rpc_count(client, spy, partners):
    task = textwrap.dedent("""
        def handle_db(records):
            lines = []
            for partner in records:
                lines.append(partner.name + ' <' + partner.email + '>')
            records.write({'comment': 'synced'})
            log(len(lines))
            return lines[0], records[0].comment
    """)
    logs = []
    result = run_handler(client=spy, task_code=task, handler="handle_db",
                         records=("res.partner", partners), allowlist=(),
                         log=lambda message, level: logs.append(message))
    # Odoo's HTML field cleaner wraps plain text in a paragraph, and the re-read shows it.
    assert result == ("Runtime 000 <p0@example.com>", "<p>synced</p>")
    assert logs == ["100"]
    # fields_get + name + email + write + the re-read of 'comment' after the write
    assert client.calls[("res.partner", "read")] == 3
    assert client.calls[("res.partner", "write")] == 1
    assert all(len(fields) <= 3 for _, _, fields in spy.reads)


def test_get_lang_and_relations_of_the_user(client, spy):
    from worker.runtime.tools import get_lang

    env = Environment(spy)
    lang = get_lang(env)
    assert lang._name == "res.lang" and lang.code == "en_US"
    assert get_lang(env, "en_US") == lang
    assert env.user.partner_id._name == "res.partner" and env.user.partner_id.name
