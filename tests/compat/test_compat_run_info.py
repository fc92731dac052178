"""What a run knows and says: logs and their levels, params, secrets (protected code only),
webhook URLs, the trigger and the user, the tools and the exceptions of the seeds."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from tests.support import LocalApi

NAMES_NOT_MERGED = "issue 13: the seeds' names trigger and texts not merged yet"


# ------------------------------------------------------------------------------ logs
def test_log_levels(compat):
    run = compat.button("""
        def handle_button():
            log("plain")
            log("details", LOG_DEBUG)
            log("fine", LOG_INFO)
            log("careful", LOG_WARNING)
            log("bad", LOG_ERROR)
            log("worse", LOG_CRITICAL)
            log("by name", "warning")
    """)
    assert run.state == "done_warnings"
    assert [(level, message) for level, _type, message in run.logs] == [
        ("info", "plain"), ("debug", "details"), ("info", "fine"), ("warning", "careful"),
        ("error", "bad"), ("critical", "worse"), ("warning", "by name")]


def test_info_logs_end_done(compat):
    assert compat.button("def handle_button():\n    log('all good')\n").state == "done"


def test_an_unknown_level_is_refused(compat):
    run = compat.button("def handle_button():\n    log('x', 'loud')\n")
    assert run.state == "failed" and "log level must be one of" in run.error


def test_print_is_an_info_line(compat):
    run = compat.button("def handle_button():\n    print('checkpoint', 3)\n").ok()
    assert run.lines("info") == ["checkpoint 3"]


def test_log_of_non_text_values(compat):
    run = compat.button("def handle_button():\n    log({'a': 1})\n    log(42)\n").ok()
    assert run.lines() == ["{'a': 1}", "42"]


def test_log_transmission_and_log_outgoing_data(compat):
    run = compat.button("""
        def handle_button():
            log_transmission("Telegram chat 5", json.dumps({"text": "hi"}))
            log_outgoing_data("shop", "order S1")
    """).ok()
    assert run.lines(type="data_out") == ['Telegram chat 5: {"text": "hi"}', "shop: order S1"]


PROTECTED = """
import base64 as _base64

def token_in_log():
    log("calling with %s" % secrets.API_TOKEN)
    log_transmission("api %s" % secrets.API_TOKEN, "token=%s" % secrets.API_TOKEN)
    return "token is %s" % secrets.API_TOKEN

def _quote(text):
    return "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in text)

def encoded(how):
    token = secrets.API_TOKEN
    forms = {"upper": token.upper(), "lower": token.lower(), "reversed": token[::-1],
             "base64": _base64.b64encode(token.encode()).decode(), "hex": token.encode().hex(),
             "url": _quote(token), "json": json.dumps({"t": token})}
    log("form: %s" % forms[how])
"""

# Characters that each encoding changes: / + " (URL, JSON), mixed case (upper, lower).
SECRET = 'Tok/en+Secret"42'


def _forms(token: str) -> dict[str, str]:
    return {"upper": token.upper(), "lower": token.lower(), "reversed": token[::-1],
            "base64": base64.b64encode(token.encode()).decode(), "hex": token.encode().hex(),
            "url": urllib.parse.quote(token, safe=""), "json": json.dumps(token)[1:-1]}


def test_secrets_are_masked_in_logs_results_and_data_out(compat):
    run = compat.button("def handle_button():\n    return token_in_log()\n",
                        protected=PROTECTED, secrets={"API_TOKEN": SECRET}).ok()
    everything = json.dumps(run.logs) + json.dumps(run.result)
    assert SECRET not in everything
    assert len(run.lines()) == 2 and run.lines()[0].startswith("calling with ")


def test_secrets_are_not_in_task_code(compat):
    run = compat.button("def handle_button():\n    return secrets.API_TOKEN\n",
                        protected=PROTECTED, secrets={"API_TOKEN": SECRET})
    assert run.state == "failed" and "secrets" in run.error
    assert SECRET not in run.error + run.traceback


@pytest.mark.parametrize("how", sorted(_forms(SECRET)))
def test_encoded_secrets_are_masked(compat, how):
    form = _forms(SECRET)[how]
    run = compat.button(f"def handle_button():\n    encoded({how!r})\n",
                        protected=PROTECTED, secrets={"API_TOKEN": SECRET}).ok()
    [line] = run.lines()
    assert line.startswith("form: ") and "*****" in line
    assert form not in line and form[:8] not in line


# ------------------------------------------------------------------------------ params
def test_params_access(compat):
    assert compat.value("""
        return [params.SHOP_URL, params["TAG"], params.get("MISSING", "dflt"), "TAG" in params,
                len(params), sorted(params.keys()), sorted(name for name in params)]
    """, params={"SHOP_URL": "https://shop.example.com", "TAG": "seen"}) == [
        "https://shop.example.com", "seen", "dflt", True, 2, ["SHOP_URL", "TAG"],
        ["SHOP_URL", "TAG"]]


def test_an_unknown_param_names_itself(compat):
    run = compat.button("def handle_button():\n    return params.NOPE\n", params={"A": "1"})
    assert run.state == "failed" and "NOPE" in run.error


def test_params_are_read_only(compat):
    run = compat.button("def handle_button():\n    params.A = '2'\n", params={"A": "1"})
    assert run.state == "failed"


def test_a_param_holding_several_lines(compat):
    assert compat.value("return params.TEMPLATE.splitlines()",
                        params={"TEMPLATE": "Dear %s,\nthanks."}) == ["Dear %s,", "thanks."]


def test_webhook_urls(compat):
    code = "def handle_button():\n    return webhooks.INCOMING\n\n" \
        "def handle_webhook(httprequest):\n    return 1\n"
    run = compat.button(code).ok()
    token = compat.trigger("INCOMING").token
    assert run.result.endswith(f"/webhooks/{token}")
    assert run.result.startswith("http")


def test_trigger_name_and_user(compat):
    assert compat.value("return [trigger_name, TRIGGER_NAME, user]") == ["GO", "GO", "compat"]


def test_trigger_is_the_seed_spelling(compat):
    assert compat.value("return trigger") == "GO"


def test_texts(compat):
    assert compat.value("return texts.WELCOME.splitlines()[1]",
                        texts={"WELCOME": "Hello!\nWrite us anything."}) == "Write us anything."


def test_texts_behave_like_params(compat):
    assert compat.value("return [texts['A'], texts.get('B', 'none'), 'A' in texts]",
                        texts={"A": "x"}) == ["x", "none", True]


# ------------------------------------------------------------------------------ tools
class Files(LocalApi):
    def answer(self, request: dict) -> tuple[int, bytes]:
        return 200, b"\x89PNG-bytes"


@pytest.fixture(scope="module")
def files():
    server = Files()
    yield server
    server.shutdown()
    server.server_close()


def test_url2bin_and_url2base64(compat, files):
    assert compat.value(f"""
        raw = url2bin("{files.url}/logo.png")
        encoded = url2base64("{files.url}/logo.png")
        return [raw.decode("latin-1"), b64decode(encoded) == raw, url2bin("")]
    """) == ["\x89PNG-bytes", True, None]


def test_url2base64_fills_an_image_field(compat, files, odoo):
    partner = compat.partner()
    compat.value(f"""
        env["res.partner"].browse({partner}).write({{"image_1920": url2base64("{files.url}/a")}})
    """)
    stored = odoo.read("res.partner", partner, ["image_1920"])["image_1920"]
    assert base64.b64decode(stored) == b"\x89PNG-bytes"


def test_url2bin_refuses_other_schemes(compat):
    run = compat.button("def handle_button():\n    url2bin('file:///etc/passwd')\n")
    assert run.state == "failed" and "http" in run.error


TOOLS = [
    ("return html2plaintext('<p>Hello <b>world</b></p>')", "Hello *world*"),
    ("return html2plaintext('<p>See <a href=\"https://x.example\">docs</a></p>')",
     "See docs [1]\n\n[1] https://x.example"),
    ("return type2str(1), type2str('x'), type2str([])",
     ["<class 'int'>", "<class 'str'>", "<class 'list'>"]),
    ("return b64encode(b'data').decode(), b64decode('ZGF0YQ==').decode()", ["ZGF0YQ==", "data"]),
    ("return get_lang(env).code", "en_US"),
    ("return get_lang(env, 'en_US').name", "English (US)"),
]


@pytest.mark.parametrize(("body", "expected"), TOOLS, ids=[str(i) for i in range(len(TOOLS))])
def test_tool_snippet(compat, body, expected):
    assert compat.value(body) == expected


# ------------------------------------------------------------------------------ exceptions
def test_user_error_fails_the_job_with_its_message(compat):
    run = compat.button("def handle_button():\n    raise UserError('no email on Ada')\n")
    assert run.state == "failed" and run.error.endswith("no email on Ada")
    assert "line 2" in run.traceback


@pytest.mark.parametrize("name", ["ValidationError", "MissingError", "AccessError", "OSError"])
def test_exceptions_can_be_raised_and_caught(compat, name):
    assert compat.value(f"""
        try:
            raise {name}("boom")
        except {name} as exc:
            return "caught %s" % exc
    """) == "caught boom"


def test_retryable_job_error_schedules_a_retry(compat):
    run = compat.cron("def handle_cron():\n    raise RetryableJobError('API busy')\n")
    assert run.state in ("pending", "failed")
    row = compat.job(run.job_id)
    assert "API busy" in (row.error or "")
    assert row.state == "pending" and row.next_attempt_at is not None


def test_a_failure_says_where_in_the_task(compat):
    run = compat.button("def handle_button():\n    x = 1\n    return x / 0\n")
    assert run.state == "failed" and "ZeroDivisionError" in run.error
    assert 'line 3, in handle_button' in run.traceback
