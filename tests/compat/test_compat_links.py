"""Links between Odoo records and external objects, as the seeds' integrations use them: set
one per record, find it back by the external ref, refresh its sync date, link two external
systems. Every test uses a relation of its own (the project, and so its links, is shared)."""

from __future__ import annotations

LINKS_NOT_MERGED = "issue 13: link operations with recordset semantics not merged yet"


def test_record_set_link_and_get_link(compat):
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        link = p.set_link("shop_partner", 501)
        found = get_link("shop_partner", 501)
        return [link.external, found.odoo.id, found.odoo.name == p.name, len(found)]
    """) == ["501", partner, True, 1]
    [row] = compat.links("shop_partner")
    assert (row.odoo_model, row.ref1, row.ref2) == ("res.partner", str(partner), "501")


def test_refs_are_text_so_int_and_str_find_the_same_link(compat):
    partner = compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({partner}).set_link("text_refs", 7)
        return [get_link("text_refs", 7).ids == get_link("text_refs", "7").ids,
                bool(get_link("text_refs", 8))]
    """) == [True, False]


def test_get_link_narrowed_by_model(compat):
    partner = compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({partner}).set_link("by_model", "x1")
        return [bool(get_link("by_model", "x1", model="res.partner")),
                bool(get_link("by_model", "x1", model="res.users"))]
    """) == [True, False]


def test_records_search_links_maps_records_to_refs(compat):
    a, b, c = compat.partner(), compat.partner(), compat.partner()
    assert compat.value(f"""
        partners = env["res.partner"].browse([{a}, {b}, {c}])
        for p in partners[:2]:
            p.set_link("many_refs", "ext-%d" % p.id)
        links = partners.search_links("many_refs")
        return [len(links), sorted(links.external), sorted(links.odoo.ids),
                {{link.odoo.id: link.external for link in links}}]
    """) == [2, [f"ext-{a}", f"ext-{b}"], [a, b], {str(a): f"ext-{a}", str(b): f"ext-{b}"}]


def test_link_sync_date_and_update_links(compat):
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        link = p.set_link("dated", "d1", sync_date=datetime.datetime(2024, 1, 1, 10, 0))
        first = link.sync_date
        link.update_links(sync_date=datetime.datetime(2024, 2, 1))
        again = get_link("dated", "d1").sync_date
        get_link("dated", "d1").update_links()
        now = get_link("dated", "d1").sync_date
        return [str(first), str(again), now > again]
    """) == ["2024-01-01 10:00:00", "2024-02-01 00:00:00", True]


def test_links_sync_date_is_the_earliest(compat):
    a, b = compat.partner(), compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({a}).set_link("earliest", "e1",
                                                sync_date=datetime.datetime(2024, 3, 1))
        env["res.partner"].browse({b}).set_link("earliest", "e2",
                                                sync_date=datetime.datetime(2024, 1, 1))
        return str(search_links("earliest", {{}}).sync_date)
    """) == "2024-01-01 00:00:00"


def test_sync_date_compares_with_write_date(compat):
    """The seeds' cron idiom: has the record changed since the last sync?"""
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        link = p.set_link("changed_since", "c1", sync_date=datetime.datetime(2000, 1, 1))
        return link.sync_date < p.write_date
    """) is True


def test_unlink_links(compat):
    partner = compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({partner}).set_link("gone", "g1")
        links = get_link("gone", "g1")
        links.unlink()
        return [len(links), bool(get_link("gone", "g1"))]
    """) == [0, False]
    assert compat.links("gone") == []


def test_one_to_one_is_enforced_unless_many2many(compat):
    a, b = compat.partner(), compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({a}).set_link("one2one", "shared")
        try:
            env["res.partner"].browse({b}).set_link("one2one", "shared")
        except ValueError as exc:
            refused = "already linked" in str(exc)
        env["res.partner"].browse({b}).set_link("one2one", "shared", allow_many2many=True)
        return [refused, len(search_links("one2one", {{}}))]
    """) == [True, 2]


def test_setting_the_same_link_twice_keeps_one(compat):
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        p.set_link("idempotent", "i1")
        p.set_link("idempotent", "i1")
        return len(search_links("idempotent", {{}}))
    """) == 1


def test_external_external_links(compat):
    assert compat.value("""
        set_link("github_trello", {"github": 1, "trello": "ab"})
        set_link("github_trello", {"github": 2, "trello": "cd"})
        links = search_links("github_trello", {"github": [1, 2]})
        one = search_links("github_trello", {"trello": "ab"})
        return [len(links), one.get("github"), one.get("trello"), sorted(links.get("trello"))]
    """) == [2, "1", "ab", ["ab", "cd"]]


def test_make_ref_is_the_seed_spelling(compat):
    partner = compat.partner()
    assert compat.value(f"""
        env["res.partner"].browse({partner}).make_ref("odoo2odoo_partner.123")
        return get_link("ref", "odoo2odoo_partner.123").odoo.id
    """) == partner


def test_a_link_is_idempotence_for_a_db_handler(compat, odoo):
    """A handler that runs twice for the same record creates the external object once."""
    partner = compat.partner()
    code = """
        def handle_db(records):
            for p in records:
                if p.search_links("pushed_once"):
                    log("already pushed %s" % p.id)
                    continue
                p.set_link("pushed_once", "remote-%d" % p.id)
                log("pushed %s" % p.id)
    """
    first = compat.db_event(code, [partner]).ok()
    second = compat.db_event(code, [partner]).ok()
    assert first.lines() == [f"pushed {partner}"]
    assert second.lines() == [f"already pushed {partner}"]


def test_ambiguous_get_link_is_refused(compat):
    a, b = compat.partner(), compat.partner()
    run = compat.button(f"""
        def handle_button():
            env["res.partner"].browse({a}).set_link("ambiguous", "same", allow_many2many=True)
            env["res.partner"].browse({b}).set_link("ambiguous", "same", allow_many2many=True)
            get_link("ambiguous", "same")
    """)
    assert run.state == "failed"
    assert "search_links" in run.error


def test_reserved_system_names_are_refused(compat):
    run = compat.button("""
        def handle_button():
            set_link("reserved", {"__odoo__": 1, "shop": 2})
    """)
    assert run.state == "failed" and "reserved" in run.error


# ------------------------------------------------------------------------ not merged yet
def test_get_link_with_a_dict_ref(compat):
    assert compat.value("""
        set_link("dict_ref", {"github": 11, "trello": "x11"})
        return get_link("dict_ref", {"github": 11}).get("trello")
    """) == "x11"


def test_none_ref_means_any_ref_of_that_system(compat):
    """As in the original module, a system whose ref is None (or False) is not filtered on."""
    assert compat.value("""
        set_link("none_ref", {"github": 21, "trello": "t21"})
        by_trello = search_links("none_ref", {"github": None, "trello": "t21"})
        return [len(by_trello), get_link("none_ref", {"github": 21, "trello": None}).get("trello")]
    """) == [1, "t21"]


def test_links_mapped(compat):
    a, b = compat.partner(), compat.partner()
    assert compat.value(f"""
        for pid in ({a}, {b}):
            env["res.partner"].browse(pid).set_link("mapped_links", "m%d" % pid)
        links = search_links("mapped_links", {{}})
        return sorted(links.mapped("external")), sorted(links.mapped(lambda l: l.odoo.id))
    """) == [sorted([f"m{a}", f"m{b}"]), sorted([a, b])]


def test_links_indexing(compat):
    a, b = compat.partner(), compat.partner()
    assert compat.value(f"""
        for pid in ({a}, {b}):
            env["res.partner"].browse(pid).set_link("indexed_links", "i%d" % pid)
        links = search_links("indexed_links", {{}})
        return [links[0].external, links[-1].external, len(links[:1])]
    """) == [f"i{a}", f"i{b}", 1]


def test_links_union_and_difference(compat):
    a, b = compat.partner(), compat.partner()
    assert compat.value(f"""
        first = env["res.partner"].browse({a}).set_link("set_ops", "s1")
        second = env["res.partner"].browse({b}).set_link("set_ops", "s2")
        both = first | second
        return [len(both), (both - first).external, len(both - first - second)]
    """) == [2, "s2", 0]


def test_links_equality(compat):
    partner = compat.partner()
    assert compat.value(f"""
        link = env["res.partner"].browse({partner}).set_link("equal_links", "q1")
        return [link == get_link("equal_links", "q1"), link == get_link("equal_links", "q2")]
    """) == [True, False]


def test_sync_date_as_an_odoo_datetime_string(compat):
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        link = p.set_link("string_date", "sd1", sync_date="2024-01-01 10:00:00")
        link.update_links(sync_date="2024-02-01 00:00:00")
        return str(get_link("string_date", "sd1").sync_date)
    """) == "2024-02-01 00:00:00"


def test_sync_date_string_never_shows_sql_to_the_user(compat):
    """Today the database's StatementError reaches the user; it must not."""
    partner = compat.partner()
    run = compat.button(f"""
        def handle_button():
            env["res.partner"].browse({partner}).set_link("string_date_error", "x",
                                                           sync_date="2024-01-01 10:00:00")
    """)
    assert "StatementError" not in run.error + run.traceback
