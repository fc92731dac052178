"""The boundary between protected code and the code a Developer writes, attacked through the
product: a project is imported, its button runs in a sandbox process, and the test reads what
any dashboard User can read of the job (its state, error, traceback, result and log lines) and
what exists on disk."""

from __future__ import annotations

import textwrap
import threading
import uuid
from xmlrpc.server import SimpleXMLRPCServer

import pytest
import yaml

from connector.demo import project_text
from tests.runtime.product import FakeApi, Outcome, button_project, import_project, run_trigger

TOKEN = "tok-7f3a91-SECRET-e55b"


def leaked(outcome: Outcome, secret: str = TOKEN) -> bool:
    text = outcome.readable
    return secret in text or secret[::-1] in text


@pytest.fixture
def api():
    server = FakeApi()
    yield server
    server.close()


def run_button(settings, sqlite_db, odoo_sim, protected: str, task: str, **options) -> Outcome:
    name = f"Boundary {uuid.uuid4().hex[:8]}"
    secrets = options.pop("secrets", {"TOKEN": TOKEN})
    import_project(settings, sqlite_db,
                   button_project(name, odoo_sim, textwrap.dedent(protected),
                                  textwrap.dedent(task), secrets=secrets, **options),
                   environ=secrets)
    return run_trigger(settings, sqlite_db, name, "GO")


# -- 1. Modules: no submodules, no module state ------------------------------------------------


def test_task_code_cannot_write_files_through_requests_utils(settings, sqlite_db, odoo_sim,
                                                             tmp_path):
    site = tmp_path / "site-packages"
    site.mkdir()
    target = site / "written-by-task.pth"
    outcome = run_button(settings, sqlite_db, odoo_sim, "import requests\n", f"""
        def handle_button():
            with requests.utils.atomic_open({str(target)!r}) as f:
                f.write(b"import os")
        """)
    assert outcome.state == "failed"
    assert "utils" in outcome.error and "allow-list" in outcome.error
    assert not target.exists()
    assert not list(site.iterdir())


def test_xmlrpc_module_state_cannot_be_changed_from_task_code(settings, sqlite_db, odoo_sim):
    password = "pw-" + uuid.uuid4().hex
    server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
    server.register_function(lambda db, login, pw: 7 if pw == password else False, "login")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        outcome = run_button(settings, sqlite_db, odoo_sim, f"""
            import xmlrpc.client as rpc

            def remote_login():
                return rpc.ServerProxy({url!r}).login("db", "admin", secrets.PASSWORD)
            """, """
            def handle_button():
                seen = []
                def spy(marshaller, value, write):
                    seen.append(value)
                    write("<value><string>%s</string></value>" % value)
                try:
                    rpc.Marshaller.dispatch[str] = spy
                except Exception as exc:
                    log("refused: %s" % exc)
                uid = remote_login()
                log("seen: %s" % [v[::-1] for v in seen])
                return uid
            """, secrets={"PASSWORD": password})
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.state == "done", outcome.error
    assert outcome.result == 7
    assert "seen: []" in outcome.logs
    assert any("refused" in line and "Marshaller" in line for line in outcome.logs)
    assert not leaked(outcome, password)


# -- 2. What protected code returns and raises --------------------------------------------------


def telegram_demo(settings, sqlite_db, odoo_sim, task: str, api_url: str,
                  params: dict[str, str] | None = None) -> str:
    """The bundled Telegram demo with one more task, written by a Developer."""
    data = yaml.safe_load(project_text("telegram.yml", {
        "ODOO_URL": odoo_sim.url, "ODOO_DB": odoo_sim.database}))
    data["name"] = f"Demo Telegram {uuid.uuid4().hex[:8]}"
    data["secrets"] = {"TELEGRAM_BOT_TOKEN": "${BOT}", "TELEGRAM_API_URL": "${API}"}
    data["params"].update(params or {})
    data["tasks"].append({"name": "Developer's task", "code": textwrap.dedent(task),
                          "triggers": {"button": [{"trigger_name": "GO"}]}})
    import_project(settings, sqlite_db, data, environ={
        "BOT": TOKEN, "API": api_url, "SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin"})
    return data["name"]


def test_telegram_demo_error_offline_does_not_carry_the_token(settings, sqlite_db, odoo_sim):
    # Nothing listens on port 9: the Bot API call fails with the URL (and so the token) in
    # the library's message.
    name = telegram_demo(settings, sqlite_db, odoo_sim, """
        def handle_button():
            try:
                telegram("getMe", {})
            except Exception as e:
                log(str(e)[::-1])
                log(repr(e.args)[::-1])
                for name in ("request", "response", "args", "errno", "strerror"):
                    log("%s: %s" % (name, str(getattr(e, name, None))[::-1]))
            telegram("getMe", {})
        """, api_url="http://127.0.0.1:9")
    outcome = run_trigger(settings, sqlite_db, name, "GO")
    assert outcome.state == "failed"
    assert "ConnectionError" in outcome.error
    assert not leaked(outcome)
    assert "request: enoN" in outcome.logs and "response: enoN" in outcome.logs


def test_requests_objects_behind_errors_and_responses_stay_in_protected_code(
        settings, sqlite_db, odoo_sim, api):
    outcome = run_button(settings, sqlite_db, odoo_sim, f"""
        import requests as _requests

        def call(path):
            r = _requests.get({api.url!r} + path, timeout=5,
                              headers={{"Authorization": "Bearer " + secrets.TOKEN}})
            r.raise_for_status()
            return r
        """, """
        def handle_button():
            seen = []
            try:
                call("/fail")
            except Exception as e:
                seen.append(str(e)[::-1])
                for name in ("request", "response"):
                    try:
                        seen.append(str(getattr(e, name).request.headers)[::-1])
                    except Exception as inner:
                        seen.append("no %s.request" % name)
            r = call("/ok")
            for name in ("request", "connection", "raw"):
                try:
                    seen.append(str(getattr(r, name))[::-1])
                except AttributeError:
                    seen.append("no " + name)
            try:
                r.connection.poolmanager.connection_pool_kw["host"] = "127.0.0.2"
            except AttributeError:
                seen.append("no poolmanager")
            seen.append([r.status_code, r.ok, r.json(), r.headers["content-type"]])
            return seen
        """)
    assert outcome.state == "done", outcome.error
    assert outcome.result[1:] == [
        "no request.request", "no response.request", "no request", "no connection", "no raw",
        "no poolmanager", [200, True, {"ok": True, "path": "/ok"}, "application/json"]]
    assert not leaked(outcome)
    # Both requests carried the secret, as protected code meant, and went where it meant.
    assert [r["headers"]["Authorization"] for r in api.received] == [f"Bearer {TOKEN}"] * 2


def test_spy_arguments_never_run_inside_protected_code(settings, sqlite_db, odoo_sim):
    outcome = run_button(settings, sqlite_db, odoo_sim, """
        def verify(token):
            return token == secrets.TOKEN

        def known(tokens):
            return secrets.TOKEN in tokens
        """, """
        captured = []

        class SpyStr(str):
            def __eq__(self, other):
                captured.append(other)
                return True

        class SpyList(list):
            def __contains__(self, item):
                captured.append(item)
                return True

        class Spy:
            def __eq__(self, other):
                captured.append(other)
                return True
            def __contains__(self, item):
                captured.append(item)
                return True

        def handle_button():
            answers = [verify(SpyStr("guess")), known(SpyList(["guess"]))]
            for value in (Spy(), [Spy()], {"k": Spy()}):
                try:
                    answers.append(verify(value))
                except TypeError as exc:
                    answers.append("refused")
                try:
                    answers.append(known(value))
                except TypeError as exc:
                    answers.append("refused")
            log("captured: %s" % [str(c)[::-1] for c in captured])
            return answers, len(captured)
        """)
    assert outcome.state == "done", outcome.error
    assert outcome.result == [[False, False, *["refused"] * 6], 0]
    assert not leaked(outcome)


def test_exceptions_cross_with_their_type_and_a_masked_message_only(settings, sqlite_db,
                                                                    odoo_sim):
    outcome = run_button(settings, sqlite_db, odoo_sim, """
        class _ApiError(Exception):
            pass

        def fail_plain():
            e = _ApiError("refused for " + secrets.TOKEN)
            e.token = secrets.TOKEN
            raise e

        def fail_builtin():
            try:
                {}["x"]
            except KeyError as inner:
                raise ValueError("bad token " + secrets.TOKEN) from inner

        def fail_user():
            raise UserError("no access with " + secrets.TOKEN)
        """, """
        def handle_button():
            seen = []
            for func in (fail_plain, fail_builtin, fail_user):
                try:
                    func()
                except Exception as e:
                    seen.append([type2str(e), str(e), getattr(e, "token", "-"), list(e.args)])
            fail_builtin()
        """)
    assert outcome.state == "failed"
    assert "ValueError: bad token **********" in outcome.error
    logs_and_traceback = outcome.traceback
    assert "<protected>" not in logs_and_traceback and "KeyError" not in logs_and_traceback
    assert not leaked(outcome)


def test_exception_values_seen_by_task_code(settings, sqlite_db, odoo_sim):
    outcome = run_button(settings, sqlite_db, odoo_sim, """
        class _ApiError(Exception):
            def describe(self):
                return "api error: %s" % secrets.TOKEN

        class Refused(UserError):
            pass

        def fail_plain():
            e = _ApiError("refused for " + secrets.TOKEN)
            e.token = secrets.TOKEN
            raise e

        def fail_marker():
            raise Refused("no access with " + secrets.TOKEN)
        """, """
        def handle_button():
            seen = []
            for func in (fail_plain, fail_marker):
                try:
                    func()
                except Refused as e:
                    seen.append(["Refused", str(e), list(e.args)])
                except Exception as e:
                    seen.append([type2str(e), str(e), getattr(e, "token", "-"), list(e.args),
                                 hasattr(e, "describe")])
            return seen
        """)
    assert outcome.state == "done", outcome.error
    assert outcome.result == [
        ["<class 'Exception'>", "_ApiError: refused for **********", "-",
         ["_ApiError: refused for **********"], False],
        ["Refused", "no access with **********", ["no access with **********"]]]


def test_returned_values_are_plain_data_without_secrets(settings, sqlite_db, odoo_sim):
    outcome = run_button(settings, sqlite_db, odoo_sim, """
        def namespace():
            return secrets

        def data():
            return {"url": "https://x/bot%s/" % secrets.TOKEN, "n": (1, 2.5, None, "x")}

        def closure():
            return lambda: secrets.TOKEN

        class _Client:
            token = secrets.TOKEN

        def client():
            return _Client()

        HEADER = "Bearer " + secrets.TOKEN
        """, """
        def handle_button():
            seen = [data(), closure()(), HEADER]
            for func in (namespace, client):
                try:
                    seen.append(str(func()))
                except TypeError as exc:
                    seen.append("refused")
            return seen
        """)
    assert outcome.state == "done", outcome.error
    assert outcome.result == [{"url": "https://x/bot**********/", "n": [1, 2.5, None, "x"]},
                              "**********", "Bearer **********", "refused", "refused"]


# -- 3. Where protected code sends a secret is not a Developer's choice ------------------------


def test_telegram_demo_sends_the_token_only_where_a_manager_said(settings, sqlite_db, odoo_sim,
                                                                  api):
    attacker = FakeApi()
    try:
        # A Developer points the params at their own server; the token still goes to the
        # Bot API URL the Manager set.
        name = telegram_demo(settings, sqlite_db, odoo_sim, """
            def handle_button():
                return telegram("getMe", {})
            """, api_url=api.url, params={"TELEGRAM_API": attacker.url, "URL": attacker.url})
        outcome = run_trigger(settings, sqlite_db, name, "GO")
    finally:
        attacker.close()
    assert outcome.state == "done", outcome.error
    assert attacker.received == []
    assert [r["path"] for r in api.received] == [f"/bot{TOKEN}/getMe"]


# -- 4. Libraries of the context ---------------------------------------------------------------


def test_gettz_is_no_file_oracle(settings, sqlite_db, odoo_sim, tmp_path):
    (tmp_path / "exists").write_bytes(b"TZif not really")
    outcome = run_button(settings, sqlite_db, odoo_sim, "", f"""
        def handle_button():
            seen = []
            for name in ({str(tmp_path / 'exists')!r}, {str(tmp_path / 'missing')!r},
                         "../../../../etc/passwd", ":/etc/passwd"):
                try:
                    seen.append(repr(dateutil.tz.gettz(name)))
                except ValueError as exc:
                    seen.append("refused")
            seen.append(dateutil.tz.gettz("Europe/Berlin") is not None)
            return seen
        """)
    assert outcome.state == "done", outcome.error
    assert outcome.result == ["refused"] * 4 + [True]


# -- 5. The bundled demo projects work through the facades -------------------------------------


def test_bundled_odoo2odoo_demo_pushes_partners_through_the_facades(settings, sqlite_db,
                                                                    odoo_sim):
    from connector.simulator import OdooSimulator

    remote = OdooSimulator(database="remote", demo=False, login_cost=0)
    remote.start(host="127.0.0.1", port=0)
    try:
        data = yaml.safe_load(project_text("odoo2odoo.yml", {
            "ODOO_URL": odoo_sim.url, "ODOO_DB": odoo_sim.database,
            "REMOTE_URL": remote.url, "REMOTE_DB": remote.database}))
        data["name"] = f"Demo Odoo2odoo {uuid.uuid4().hex[:8]}"
        data["tasks"].append({"name": "Developer's task", "code": textwrap.dedent("""
            def handle_button():
                return remote_call("res.partner", "create", [{"name": "Via facade"}])
            """), "triggers": {"button": [{"trigger_name": "GO"}]}})
        import_project(settings, sqlite_db, data, environ={
            "SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin", "SYNCSTUDIO_DEMO_REMOTE_LOGIN": "admin",
            "SYNCSTUDIO_DEMO_REMOTE_PASSWORD": "admin"})
        outcome = run_trigger(settings, sqlite_db, data["name"], "GO")
    finally:
        remote.stop()
    assert outcome.state == "done", outcome.error
    assert isinstance(outcome.result, int) and outcome.result > 0
