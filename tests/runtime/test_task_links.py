"""Links as task code uses them, through the real sandbox, the own database (SQLite and
PostgreSQL) and the simulator: dict refs, ``None`` refs, recordset operations, sync dates —
in this process and in a sandbox process whose link calls the worker serves."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest

from connector.links import LinkError, LinkStore, link_api
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from worker.runtime import UserCodeError, run_handler, run_isolated


@pytest.fixture
def store(settings, db) -> LinkStore:
    with db.session() as session:
        pid = ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse("name: Links\n")).id
    return LinkStore(db, pid)


@pytest.fixture(params=["in-process", "isolated"])
def run_task(request, client, simulator, store):
    """Run a task's handle_cron with links; ``run_task.store`` is the project's link store."""

    def runner(code: str, **kwargs: Any) -> Any:
        kwargs.setdefault("allowlist", ())
        code = textwrap.dedent(code)
        if request.param == "isolated":
            connection = {"url": simulator.url, "database": "odootest", "login": "admin",
                          "password": "admin", "protocol": "jsonrpc"}
            return run_isolated(connection=connection, task_code=code, handler="handle_cron",
                                link_store=store, **kwargs)
        return run_handler(client=client, task_code=code, handler="handle_cron",
                           link_api=lambda env: link_api(store, env), **kwargs)

    runner.store = store  # type: ignore[attr-defined]
    return runner


# A task that mirrors GitHub issues to Trello cards, finding the card through the link.
MIRROR = """
def handle_cron():
    created = []
    for issue in [1, 2, 1, 2]:
        link = get_link("issue", {"github": issue})
        if not link:
            card = "card-%s" % issue
            created.append(card)
            set_link("issue", {"github": issue, "trello": card})
    return created
"""


def test_get_link_with_a_dict_finds_the_external_link(run_task) -> None:
    # Before: get_link never found a dict ref, so every run created the card again.
    assert run_task(MIRROR) == ["card-1", "card-2"]
    assert run_task(MIRROR) == []
    assert len(run_task.store.search("issue", {})) == 2


def test_none_as_a_systems_ref_means_any_ref(run_task) -> None:
    code = """
    def handle_cron():
        set_link("issue", {"github": 1, "trello": "a"})
        set_link("issue", {"github": 2, "trello": "b"})
        set_link("issue", {"github": 3, "jira": "J-3"})
        synced = []
        for link in search_links("issue", {"github": None, "trello": None}):
            synced.append(link.get("trello"))
            link.update_links("2024-01-01 10:00:00")
        return [synced,
                search_links("issue", {"github": [1, None, 3]}).mapped(lambda l: l.get("github")),
                get_link("issue", {"jira": None}).get("jira"),
                len(search_links("issue", {"github": []}))]
    """
    # Before: None matched nothing, so the loop synced nothing and the job still succeeded.
    assert run_task(code) == [["a", "b"], ["1", "3"], "J-3", 0]
    dates = {r["ref2"]: r["sync_date"] for r in run_task.store.search("issue", {"trello": None})
             if r["system2"] == "trello"}
    assert dates == {"a": dt.datetime(2024, 1, 1, 10), "b": dt.datetime(2024, 1, 1, 10)}


def test_links_behave_like_recordsets(run_task, partners) -> None:
    code = f"""
    def handle_cron():
        partners = env["res.partner"].browse({partners})
        for partner in partners:
            partner.set_link("p", "ext-%s" % partner.id)
        links = partners.search_links("p")
        first, rest = links[0], links[1:]
        return {{
            "len": [len(links), len(rest), len(links[-1:])],
            "ops": [(first | rest) == links, (links - first) == rest, len(links & first),
                    len(first + first), first in links, first in rest],
            "mapped": [links.mapped("external"), links.mapped("odoo") == partners,
                       links.mapped("odoo.name"), links.mapped(lambda l: l.odoo) == partners],
            "filtered": links.filtered(lambda l: l.external.endswith("%s" % {partners[1]}))
                             .mapped("odoo.id"),
            "sorted": links.sorted("external", reverse=True).mapped("external")[0],
            "ids": [first.id in links.ids, first.odoo._name],
        }}
    """
    result = run_task(code)
    assert result == {
        "len": [3, 2, 1],
        "ops": [True, True, 1, 2, True, False],
        "mapped": [[f"ext-{i}" for i in partners], True, ["Link A", "Link B", "Link C"], True],
        "filtered": [partners[1]],
        "sorted": f"ext-{max(partners)}",
        "ids": [True, "res.partner"],
    }


@pytest.fixture
def partners(client) -> list[int]:
    ids = client.create("res.partner", [{"name": f"Link {c}"} for c in "ABC"])
    yield ids
    client.unlink("res.partner", ids)


@pytest.mark.parametrize("value", [
    "2024-01-01 10:00:00", "2024-01-01T10:00:00", "2024-01-01T12:00:00+02:00",
    "datetime.datetime(2024, 1, 1, 10, 0)"])
def test_sync_date_as_odoo_writes_it(run_task, partners, value) -> None:
    literal = value if value.startswith("datetime") else repr(value)
    code = f"""
    def handle_cron():
        link = env["res.partner"].browse({partners[0]}).set_link("p", "x", sync_date={literal})
        return str(link.sync_date)
    """
    # Before: a text sync_date reached the database and failed with an SQL StatementError.
    assert run_task(code) == "2024-01-01 10:00:00"


def test_a_date_is_midnight_and_update_links_takes_text(run_task, partners) -> None:
    code = f"""
    def handle_cron():
        link = env["res.partner"].browse({partners[0]}).set_link(
            "p", "x", sync_date=datetime.date(2024, 1, 2))
        first = str(link.sync_date)
        link.update_links("2024-03-04")
        return [first, str(get_link("p", "x").sync_date)]
    """
    assert run_task(code) == ["2024-01-02 00:00:00", "2024-03-04 00:00:00"]


@pytest.mark.parametrize(("call", "message"), [
    ("env.user.set_link('p', 'x', sync_date='tomorrow')",
     "sync_date 'tomorrow' is not a date: write it as Odoo does, '2024-01-01 10:00:00'"),
    ("env.user.set_link('p', 'x', sync_date=5)", "sync_date must be a datetime"),
    ("env.user.set_link('p', None)", "the external ref is None: a link needs a ref"),
    ("set_link('p', {'github': 1, 'trello': None})", "the ref of 'trello' is None"),
    ("set_link('p', 'x')", "links two external systems"),
    ("get_link('p', None)", "external_ref is None"),
    ("search_links('p', {'github': {'a': 1}})", "not a dict"),
])
def test_bad_link_input_is_a_clear_error(run_task, call, message) -> None:
    pattern = message.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises((LinkError, UserCodeError), match=pattern):
        run_task(f"def handle_cron():\n    {call}\n")
