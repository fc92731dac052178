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
