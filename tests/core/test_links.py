"""Link rules of the original module: one-to-one unless allow_many2many, ambiguous get refused,
search with "any of" lists, sync dates, external-external links."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.links import LinkError, Links, LinkStore
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox

D1 = dt.datetime(2026, 1, 1, 10, 0)
D2 = dt.datetime(2026, 2, 1, 10, 0)


@pytest.fixture
def store(settings, db):
    with db.session() as session:
        pid = ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse("name: L\n")).id
        other = ProjectImporter(session, SecretBox.from_settings(settings),
                                environ={}).import_data(parse("name: M\n")).id
    return LinkStore(db, pid), LinkStore(db, other)


def test_odoo_link_is_one_to_one(store):
    links, _ = store
    [row] = links.set_odoo_link("partner", "res.partner", 7, "ext-7", sync_date=D1)
    assert (row["ref1"], row["ref2"], row["model"]) == ("7", "ext-7", "res.partner")
    with pytest.raises(LinkError, match=r"already linked \(partner: res.partner\(7\)"):
        links.set_odoo_link("partner", "res.partner", 7, "ext-other")
    with pytest.raises(LinkError, match="already linked"):
        links.set_odoo_link("partner", "res.partner", 8, "ext-7")
    # the same link again only refreshes its sync date
    [again] = links.set_odoo_link("partner", "res.partner", 7, "ext-7", sync_date=D2)
    assert again["id"] == row["id"] and again["sync_date"] == D2
    # another relation is independent
    links.set_odoo_link("other", "res.partner", 7, "ext-other")


def test_many2many_when_allowed_and_get_refuses_ambiguity(store):
    links, _ = store
    links.set_odoo_link("tag", "res.partner", 1, "shared", allow_many2many=True)
    links.set_odoo_link("tag", "res.partner", 2, "shared", allow_many2many=True)
    assert len(links.search_odoo("tag", "res.partner", [1, 2])) == 2
    with pytest.raises(LinkError, match="2 links of relation 'tag'"):
        links.get("tag", "shared")
    assert links.get("tag", "nothing") == []


def test_search_with_any_of_lists_and_model_filter(store):
    links, other = store
    for rid in (1, 2, 3):
        links.set_odoo_link("p", "res.partner", rid, f"e{rid}")
    links.set_odoo_link("p", "res.users", 1, "u1")
    assert [r["ref2"] for r in links.search("p", {"__default_external__": ["e1", "e3"]})] == \
        ["e1", "e3"]
    assert len(links.search_odoo("p", "res.partner", [1, 2, 3, 99])) == 3
    assert [r["ref2"] for r in links.search_odoo("p", "res.users", [1])] == ["u1"]
    assert other.search_odoo("p", "res.partner", [1]) == []  # projects do not see each other


def test_external_links_are_order_agnostic(store):
    links, _ = store
    [row] = links.set_external_link("issue", {"trello": "ab", "github": 1})
    assert (row["system1"], row["ref1"], row["system2"], row["ref2"]) == \
        ("github", "1", "trello", "ab")
    assert links.search("issue", {"github": 1, "trello": "ab"})[0]["id"] == row["id"]
    assert len(links.search("issue", {"github": [1, 2]})) == 1
    with pytest.raises(LinkError, match="already linked"):
        links.set_external_link("issue", {"github": 1, "trello": "zz"})
    with pytest.raises(LinkError, match="exactly two systems"):
        links.set_external_link("issue", {"github": 1})


class FakeEnv:
    """Stands for the runtime's Environment: only ``env[model].browse(ids)`` is used."""

    def __getitem__(self, model):
        return _Model(model)


class _Model:
    def __init__(self, model):
        self.model = model

    def browse(self, ids):
        return (self.model, list(ids))


def test_links_wrapper(store):
    links, _ = store
    rows = [links.set_odoo_link("p", "res.partner", i, f"e{i}", sync_date=d)[0]
            for i, d in ((1, D2), (2, D1))]
    wrapped = Links(links, FakeEnv(), rows)
    assert len(wrapped) == 2 and bool(wrapped)
    assert wrapped.odoo == ("res.partner", [1, 2])
    assert wrapped.external == ["e1", "e2"]
    assert wrapped.sync_date == D1
    first = next(iter(wrapped))
    assert first.external == "e1" and first.get("__odoo__") == "1"
    with pytest.raises(AttributeError):
        first.external = "x"
    wrapped.update_links(D2)
    assert {r["sync_date"] for r in links.search_odoo("p", "res.partner", [1, 2])} == {D2}
    first.unlink()
    assert not first
    assert [r["ref2"] for r in links.search_odoo("p", "res.partner", [1, 2])] == ["e2"]
