"""Attachments handed to external systems as URLs (the Messenger seed's ``_public_url()``)."""

from __future__ import annotations

NOT_MERGED = "issue 13: attachment.public_url() / _public_url() not merged yet"

MAKE = """
att = env["ir.attachment"].create({"name": "photo.png", "datas": b64encode(b"png"),
                                   "res_model": "res.partner", "res_id": 14})
"""


def _check(compat, url: str) -> None:
    assert url.startswith(compat.sim.url.rstrip("/") + "/web/content/"), url
    assert "access_token=" in url


def test_public_url(compat):
    url = compat.value(MAKE + "return att.public_url()")
    _check(compat, url)


def test_public_url_seed_spelling(compat):
    """The seed's spelling starts with an underscore, which the sandbox allows for it alone."""
    url = compat.value(MAKE + "return att._public_url()")
    _check(compat, url)


def test_public_urls_of_a_message(compat):
    """The Messenger idiom: send a message's attachments as links."""
    partner = compat.partner()
    urls = compat.value(f"""
        msg = env["res.partner"].browse({partner}).message_post(
            body="see attached", attachments=[("a.txt", b"a"), ("b.txt", b"b")])
        return [a.public_url() for a in msg.attachment_ids]
    """)
    assert len(urls) == 2 and len(set(urls)) == 2
    for url in urls:
        _check(compat, url)


def test_attachments_are_created_and_read_today(compat, odoo):
    attachment = compat.value("""
        att = env["ir.attachment"].create({"name": "notes.txt",
                                           "datas": b64encode(b"hello").decode(),
                                           "res_model": "res.partner", "res_id": 14})
        return att.id
    """)
    row = odoo.read("ir.attachment", attachment, ["name", "res_model", "res_id"])
    assert (row["name"], row["res_model"], row["res_id"]) == ("notes.txt", "res.partner", 14)
