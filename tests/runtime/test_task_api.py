"""The original module's task-code API, run through the real sandbox against the simulator:
``trigger``, ``texts``, attachments' public URL, binary fields as bytes, the recordset methods
Odoo developers reach for, and clear errors for what RPC cannot do."""

from __future__ import annotations

import ast
import base64
import textwrap
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from connector.errors import CodeError
from worker.runtime import UserError, check_code, run_handler

ROOT = Path(__file__).resolve().parents[2]


def run_task(client: Any, code: str, handler: str = "handle_cron", **kwargs: Any) -> Any:
    kwargs.setdefault("allowlist", ())
    return run_handler(client=client, task_code=textwrap.dedent(code), handler=handler,
                       **kwargs)


@pytest.fixture
def partners(client) -> list[int]:
    ids = client.create("res.partner", [
        {"name": f"Api {name}", "email": f"{name.lower()}@example.com", "city": city}
        for name, city in (("Carol", "Lyon"), ("Alice", "Paris"), ("Bob", "Lyon"))])
    yield ids
    client.unlink("res.partner", ids)


# -- event names and project values --------------------------------------------------------

def test_trigger_is_the_running_triggers_name(client) -> None:
    code = """
    def handle_cron():
        return [trigger, trigger_name, TRIGGER_NAME]
    """
    assert run_task(client, code, trigger_name="NIGHTLY") == ["NIGHTLY"] * 3


def test_texts_are_multi_line_project_texts(client) -> None:
    code = """
    def handle_cron():
        return [texts.WELCOME.splitlines(), texts["WELCOME"].count("\\n"), "NOPE" in texts,
                texts.get("NOPE", "-")]
    """
    result = run_task(client, code, texts={"WELCOME": "Hello!\nWrite us anything.\n"})
    assert result == [["Hello!", "Write us anything."], 2, False, "-"]


def test_a_missing_text_is_a_clear_error(client) -> None:
    with pytest.raises(AttributeError, match="texts has no 'GOODBYE'"):
        run_task(client, "def handle_cron():\n    return texts.GOODBYE\n", texts={})


# -- attachments -----------------------------------------------------------------------------

@pytest.fixture
def attachment(client, partners) -> int:
    aid = client.create("ir.attachment", {
        "name": "invoice.txt", "datas": base64.b64encode(b"Invoice 42").decode(),
        "res_model": "res.partner", "res_id": partners[0]})
    yield aid
    client.unlink("ir.attachment", [aid])


@pytest.mark.parametrize("spelling", ["public_url", "_public_url"])
def test_public_url_of_an_attachment(client, simulator, attachment, spelling) -> None:
    code = f"""
    def handle_cron():
        attachment = env["ir.attachment"].browse({attachment})
        first = attachment.{spelling}()
        return [first, attachment.{spelling}(), attachment.access_token]
    """
    first, second, token = run_task(client, code)
    url = urllib.parse.urlsplit(first)
    assert f"{url.scheme}://{url.netloc}" == simulator.url.rstrip("/").replace(":80", "")
    assert url.path == f"/web/content/{attachment}"
    assert urllib.parse.parse_qs(url.query) == {"access_token": [token]}
    assert len(token) == 36  # Odoo's tokens are UUIDs
    assert second == first  # Odoo keeps an attachment's token once it has one
    stored = client.read("ir.attachment", [attachment], ["access_token"])[0]["access_token"]
    assert stored == token


def test_the_private_spelling_is_checked_at_save_time_like_the_public_one() -> None:
    check_code("def handle_cron():\n    return env['ir.attachment']._public_url()\n",
               require_handler=True)
    with pytest.raises(CodeError, match="_other_url"):
        check_code("def handle_cron():\n    return env['ir.attachment']._other_url()\n")


def test_public_url_of_another_model_says_where_it_exists(client, partners) -> None:
    code = f"""
    def handle_cron():
        return env["res.partner"].browse({partners[0]}).public_url()
    """
    with pytest.raises(UserError, match="method of ir.attachment records, not of res.partner"):
        run_task(client, code)


def test_message_post_with_attachments(client, partners, attachment) -> None:
    code = f"""
    def handle_cron():
        partner = env["res.partner"].browse({partners[1]})
        message = partner.message_post(
            body="Your documents",
            attachments=[("a.txt", "Ünïcode text"), ("b.bin", b"\\x00\\x01")],
            attachment_ids=env["ir.attachment"].browse({attachment}))
        return [(a.name, a.datas.decode(), a.res_model, a.res_id)
                for a in message.attachment_ids.sorted("name")]
    """
    rows = run_task(client, code)
    assert [(name, base64.b64decode(datas), model, rid) for name, datas, model, rid in rows] == [
        ("a.txt", "Ünïcode text".encode(), "res.partner", partners[1]),
        ("b.bin", b"\x00\x01", "res.partner", partners[1]),
        ("invoice.txt", b"Invoice 42", "res.partner", partners[0]),
    ]


def test_message_post_refuses_bad_attachments(client, partners) -> None:
    code = f"""
    def handle_cron():
        env["res.partner"].browse({partners[0]}).message_post(body="x", attachments=["a.txt"])
    """
    with pytest.raises(TypeError, match=r"\(name, content\) pairs"):
        run_task(client, code)


# -- binary fields -------------------------------------------------------------------------

def test_binary_fields_are_base64_bytes_as_in_odoo(client, attachment, partners) -> None:
    code = f"""
    def handle_cron():
        attachment = env["ir.attachment"].browse({attachment})
        datas = attachment.datas
        new = env["ir.attachment"].create({{
            "name": "copy.txt", "datas": b64encode(b"copied bytes"),
            "res_model": "res.partner", "res_id": {partners[0]}}})
        text = env["ir.attachment"].create({{
            "name": "text.txt", "datas": b64encode(b"as text").decode(),
            "res_model": "res.partner", "res_id": {partners[0]}}})
        result = [isinstance(datas, bytes), b64decode(datas).decode(), datas.decode(),
                  b64decode(new.datas), b64decode(text.datas)]
        (new | text).unlink()
        return result
    """
    kind, content, text, copied, as_text = run_task(client, code)
    assert kind is True
    assert content == "Invoice 42"
    assert text == base64.b64encode(b"Invoice 42").decode()
    assert (copied, as_text) == (b"copied bytes", b"as text")


def test_writing_raw_bytes_to_a_binary_field_names_the_fix(client, attachment) -> None:
    code = f"""
    def handle_cron():
        env["ir.attachment"].browse({attachment}).write({{"datas": b"\\x89PNG raw"}})
    """
    with pytest.raises(ValueError, match=r"give it base64 .* b64encode\(content\)"):
        run_task(client, code)


# -- recordset methods ---------------------------------------------------------------------

def test_recordset_idioms(client, partners) -> None:
    code = f"""
    def handle_cron():
        ids = {partners}
        records = env["res.partner"].browse(ids)
        carol, alice, bob = records
        lyon = records.filtered(lambda p: p.city == "Lyon")
        return {{
            "mapped": records.mapped("name"),
            "mapped_func": records.mapped(lambda p: p.name[-1]),
            "filtered_str": records.filtered("email").ids == ids,
            "filtered_domain": records.filtered_domain([("city", "=", "Lyon")]).ids,
            "sorted": records.sorted("name").mapped("name"),
            "sorted_rev": records.sorted(key=lambda p: p.name, reverse=True).ids,
            "in": [alice in records, alice in lyon, "email" in records, "nope" in records],
            "ops": [(lyon | alice).ids, (records & lyon).ids, (records - lyon).ids],
            "cmp": [lyon == (bob | carol), lyon <= records, records < lyon, bool(records[3:])],
            "slice": [records[0] == carol, records[1:].ids, len(records[-1:])],
            "count": [env["res.partner"].search_count([("id", "in", ids)]),
                      env["res.partner"].search_count([("id", "in", ids)], limit=2)],
            "one": records[1].ensure_one().name,
            "names": [n for _, n in records.name_get()] == records.mapped("display_name"),
            "exists": (records.exists() - records).ids,
        }}
    """
    result = run_task(client, code)
    carol, alice, bob = partners
    assert result == {
        "mapped": ["Api Carol", "Api Alice", "Api Bob"],
        "mapped_func": ["l", "e", "b"],
        "filtered_str": True,
        "filtered_domain": [carol, bob],
        "sorted": ["Api Alice", "Api Bob", "Api Carol"],
        "sorted_rev": [carol, bob, alice],
        "in": [True, False, True, False],
        "ops": [[carol, bob, alice], [carol, bob], [alice]],
        "cmp": [True, True, False, False],
        "slice": [True, [alice, bob], 1],
        "count": [3, 2],
        "one": "Api Alice",
        "names": True,
        "exists": [],
    }


def test_env_names(client) -> None:
    code = """
    def handle_cron():
        admin = env["res.users"].search([("login", "=", "admin")])
        return [env.user == admin, env.user.id == env.uid, env.company == env.user.company_id,
                env.companies._name, env.context.get("lang"),
                env.with_context(lang="fr_FR").context["lang"], "res.partner" in env,
                "no.such.model" in env]
    """
    assert run_task(client, code, context={"lang": "en_US"}) == [
        True, True, True, "res.company", "en_US", "fr_FR", True, False]


def test_with_user_sudo_and_with_context(client, partners) -> None:
    code = f"""
    def handle_cron():
        partner = env["res.partner"].browse({partners[0]})
        same = [partner.sudo() == partner, partner.with_user(env.user) == partner,
                partner.with_user(env.uid).name, partner.with_context(lang="en_US").name]
        try:
            partner.with_user(env["res.users"].browse(env.uid + 1))
        except UserError as exc:
            same.append(str(exc))
        return same
    """
    result = run_task(client, code)
    assert result[:4] == [True, True, "Api Carol", "Api Carol"]
    assert "not possible over RPC" in result[4] and "Connect the project as the user" in result[4]


def test_invalidate_recordset_rereads_from_odoo(client, partners) -> None:
    code = f"""
    def handle_cron():
        partner = env["res.partner"].browse({partners[0]})
        before = partner.name
        # Another environment has its own cache: this write does not reach partner's.
        env.with_context(tz="UTC")["res.partner"].browse(partner.id).write(
            {{"name": "Api Carol renamed"}})
        cached = partner.name
        partner.flush_recordset()
        partner.invalidate_recordset(["name"])
        return [before, cached, partner.name]
    """
    assert run_task(client, code) == ["Api Carol", "Api Carol", "Api Carol renamed"]


@pytest.mark.parametrize(("code", "message"), [
    ("env.cr.execute('select 1')", "env.cr (the database cursor) does not exist over RPC"),
    ("env.registry", "env.registry does not exist over RPC"),
    ("env['res.partner'].new({'name': 'x'})", "use create"),
    ("env['res.partner'].with_company(1)", "allowed_company_ids"),
    ("env.nope", "env has no attribute 'nope'"),
])
def test_orm_internals_fail_with_what_to_write_instead(client, code, message) -> None:
    with pytest.raises(AttributeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_task(client, f"def handle_cron():\n    return {code}\n")


def test_model_methods_are_called_without_ids(client, partners) -> None:
    code = """
    def handle_cron():
        found = env["res.partner"].name_search("Api Ali")
        return [name for _id, name in found], env["res.partner"].default_get(["active"])
    """
    names, defaults = run_task(client, code)
    assert names == ["Api Alice"]
    assert defaults == {"active": True}


# -- structure -----------------------------------------------------------------------------

def test_recordset_module_does_not_import_the_environment_module() -> None:
    tree = ast.parse((ROOT / "worker/runtime/recordset.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert "worker.runtime.environment" not in imported


class CallSpy:
    """Delegates to the real client and records every ``execute_kw``."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: list[tuple[str, str, list]] = []

    def execute_kw(self, model, method, args, kwargs=None):
        self.calls.append((model, method, list(args)))
        return self.client.execute_kw(model, method, args, kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_methods_on_env_model_are_model_methods_others_send_ids(client, partners) -> None:
    spy = CallSpy(client)
    code = f"""
    def handle_cron():
        empty = env["res.partner"].search([("id", "=", 0)])
        return [env["res.partner"].check_access_rights("write"),
                env["res.partner"].with_context(lang="en_US").check_access_rights("read"),
                env["res.partner"].browse({partners[0]}).check_access_rights("read"),
                empty.check_access_rights("read")]
    """
    assert run_task(spy, code) == [True, True, True, True]
    assert [args for _, method, args in spy.calls if method == "check_access_rights"] == [
        ["write"], ["read"], [[partners[0]], "read"], [[], "read"]]


def test_mapped_follows_relations_and_merges_records(client, partners) -> None:
    company = client.create("res.partner", {"name": "Api Corp", "is_company": True})
    client.write("res.partner", partners[:2], {"parent_id": company})
    try:
        code = f"""
        def handle_cron():
            records = env["res.partner"].browse({partners})
            parents = records.mapped("parent_id")
            return [records.mapped("parent_id.name"), parents.ids,
                    records.mapped(lambda p: p.parent_id).ids,
                    records.filtered("parent_id.is_company").ids]
        """
        assert run_task(client, code) == [["Api Corp"], [company], [company], partners[:2]]
    finally:
        client.write("res.partner", partners[:2], {"parent_id": False})
        client.unlink("res.partner", [company])
