"""The connections page: never a password, and a "Test connection" that says what answered."""

from __future__ import annotations

from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox


def add_connection(settings, sqlite_db, url, password):
    text = f"""
name: Conn
odoo: {{url: "{url}", database: odootest, login: admin, password: "{password}"}}
"""
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(text))
        from sqlalchemy import select

        from connector.store.models import OdooConnection

        return session.scalar(select(OdooConnection.id))


def test_test_connection_reports_version_and_user(settings, sqlite_db, dev, odoo_sim):
    conn_id = add_connection(settings, sqlite_db, odoo_sim.url, "admin")
    page = dev.get("/dashboard/connections").get_data(as_text=True)
    assert odoo_sim.url in page and "Conn" in page and "admin" in page
    response = dev.post(f"/dashboard/connections/{conn_id}/test", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Odoo 17.0, logged in as" in text and "(uid 2)" in text


def test_wrong_password_is_one_clear_line_without_the_password(settings, sqlite_db, dev,
                                                               odoo_sim):
    conn_id = add_connection(settings, sqlite_db, odoo_sim.url, "wrong-Pass-987")
    text = dev.post(f"/dashboard/connections/{conn_id}/test",
                    follow_redirects=True).get_data(as_text=True)
    assert "wrong-Pass-987" not in text
    assert "refused" in text.lower() or "password" in text.lower() or "login" in text.lower()
    assert "logged in as" not in text


def test_readers_see_the_list_but_cannot_test(settings, sqlite_db, reader, odoo_sim):
    conn_id = add_connection(settings, sqlite_db, odoo_sim.url, "admin")
    page = reader.get("/dashboard/connections").get_data(as_text=True)
    assert "Conn" in page and "Test connection" not in page
    assert reader.post(f"/dashboard/connections/{conn_id}/test").status_code == 403


def test_managers_create_and_edit_connections_the_password_never_shown(boss, dev, reader,
                                                                       sqlite_db, odoo_sim):
    form = {"name": "Prod", "url": odoo_sim.url + "/", "database": "odootest",
            "login": "admin", "password": "admin-Pass-42", "protocol": "jsonrpc",
            "timeout": "10"}
    for who in (dev, reader):
        assert who.post("/dashboard/connections", data=form).status_code == 403
    assert boss.post("/dashboard/connections", data=form).status_code == 302
    from sqlalchemy import select

    from connector.store.models import OdooConnection

    with sqlite_db.session() as session:
        conn = session.scalars(select(OdooConnection).where(OdooConnection.name == "Prod")).one()
        assert conn.url == odoo_sim.url and conn.password_enc and conn.timeout == 10
        conn_id = conn.id
    for who in (boss, dev, reader):
        assert "admin-Pass-42" not in who.get("/dashboard/connections").get_data(as_text=True)
    assert "admin-Pass-42" not in boss.get(f"/dashboard/connections/{conn_id}").get_data(
        as_text=True)
    for who in (dev, reader):
        assert who.get(f"/dashboard/connections/{conn_id}").status_code == 403
        assert who.post(f"/dashboard/connections/{conn_id}",
                        data={**form, "url": "http://evil.example"}).status_code == 403
    # The password did not match Odoo's: the test says so; a new one (edit) fixes it.
    failed = dev.post(f"/dashboard/connections/{conn_id}/test", follow_redirects=True)
    assert "Test of Prod failed" in failed.get_data(as_text=True)
    edited = {**form, "password": "admin", "database": "odootest"}
    assert boss.post(f"/dashboard/connections/{conn_id}", data=edited).status_code == 302
    passed = dev.post(f"/dashboard/connections/{conn_id}/test", follow_redirects=True)
    assert "Test of Prod passed: Odoo 17.0" in passed.get_data(as_text=True)
    # An empty password keeps the stored one.
    assert boss.post(f"/dashboard/connections/{conn_id}",
                     data={**form, "password": ""}).status_code == 302
    passed = dev.post(f"/dashboard/connections/{conn_id}/test", follow_redirects=True)
    assert "Test of Prod passed" in passed.get_data(as_text=True)


def test_a_bad_connection_form_names_the_field(boss, sqlite_db):
    form = {"name": "X", "url": "ftp://host", "database": "d", "login": "l", "protocol": "jsonrpc"}
    response = boss.post("/dashboard/connections", data=form)
    assert response.status_code == 400 and "url: an http:// or https:// address" in \
        response.get_data(as_text=True)
    response = boss.post("/dashboard/connections", data={**form, "url": "http://h",
                                                         "protocol": "carrier-pigeon"})
    assert response.status_code == 400 and "protocol" in response.get_data(as_text=True)
