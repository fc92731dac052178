"""Evaluation context, layering of protected/common/task code, dispatch and tracebacks."""

from __future__ import annotations

import datetime
import functools
import textwrap

import pytest

from connector.errors import CodeError, JobError
from worker.runtime import RecordSet, RetryableJobError, UserError, format_user_traceback

SECRET = "hunter2-very-secret"


def code(text: str) -> str:
    return textwrap.dedent(text)


def test_layers_see_upper_public_names_only(run) -> None:
    protected = code("""
        _hidden = 'protected private'
        API = 'https://api.example'
        def auth_header():
            return 'Bearer ' + secrets.TOKEN[:3]
    """)
    common = code("""
        def url(path):
            return API + path
        _common_private = 1
    """)
    task = code("""
        def handle_cron():
            names = []
            for name in ('_hidden', '_common_private', 'secrets'):
                try:
                    eval_name = {'_hidden': lambda: _hidden,
                                 '_common_private': lambda: _common_private,
                                 'secrets': lambda: secrets}[name]
                    eval_name()
                except NameError:
                    names.append(name)
            return url('/x'), auth_header(), names
    """)
    result = run(task, protected_code=protected, common_code=common,
                 secrets={"TOKEN": SECRET})
    assert result == ("https://api.example/x", "Bearer hun",
                      ["_hidden", "_common_private", "secrets"])


def test_secrets_and_import_are_not_available_in_common_code(run) -> None:
    with pytest.raises(NameError):
        run("def handle_cron():\n    pass\n", common_code="x = secrets.TOKEN\n",
            secrets={"TOKEN": SECRET})
    with pytest.raises(CodeError, match="protected code"):
        run("def handle_cron():\n    pass\n", common_code="import json\n",
            allowlist=("json",))


def test_secrets_namespace_hides_values_in_repr(run) -> None:
    protected = "SHOWN = repr(secrets)\n"
    shown = run("def handle_cron():\n    return SHOWN\n", protected_code=protected,
                secrets={"TOKEN": SECRET})
    assert "TOKEN" in shown and SECRET not in shown


def test_protected_functions_keep_their_globals_when_task_shadows_names(run) -> None:
    protected = "def check():\n    return len(secrets.TOKEN)\n"
    task = "secrets = 'fake'\nlen = None\ndef handle_cron():\n    return check()\n"
    assert run(task, protected_code=protected, secrets={"TOKEN": SECRET}) == len(SECRET)


def test_context_names(run) -> None:
    task = code("""
        def handle_cron():
            return {
                'levels': (LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL),
                'param': params.API_URL, 'param_item': params['API_URL'],
                'param_default': params.get('MISSING', 'd'),
                'webhook': webhooks.INCOMING,
                'trigger': (trigger_name, TRIGGER_NAME),
                'user': user,
                'json': json.dumps({'a': 1}),
                'date': datetime.date(2024, 1, 31) + dateutil.relativedelta.relativedelta(months=1),
                'parsed': dateutil.parser.parse('2024-02-03T04:05:06'),
                'tz': str(datetime.datetime(2024, 1, 1, 12, tzinfo=timezone('UTC'))
                          .astimezone(timezone('Europe/Berlin')).hour),
                'b64': b64decode(b64encode(b'hi')),
                'text': html2plaintext('<p>Hello <b>World</b></p><br/><a href="https://x.y">x</a>'),
                'type': type2str(1),
                'fmt': DEFAULT_SERVER_DATETIME_FORMAT,
                'time': isinstance(time.time(), float),
                'exceptions': (isinstance(UserError('x'), Exception) and 'ok',
                               issubclass(ValidationError, UserError),
                               issubclass(RetryableJobError, Exception), OSError is not None),
            }
    """)
    result = run(task, params={"API_URL": "https://api"}, webhooks={"INCOMING": "https://w/1"},
                 trigger_name="NIGHTLY", user="alice")
    assert result["levels"] == ("debug", "info", "warning", "error", "critical")
    assert (result["param"], result["param_item"], result["param_default"]) == (
        "https://api", "https://api", "d")
    assert result["webhook"] == "https://w/1"
    assert result["trigger"] == ("NIGHTLY", "NIGHTLY")
    assert result["user"] == "alice"
    assert result["json"] == '{"a": 1}'
    assert result["date"] == datetime.date(2024, 2, 29)
    assert result["parsed"] == datetime.datetime(2024, 2, 3, 4, 5, 6)
    assert result["tz"] == "13"
    assert result["b64"] == b"hi"
    assert result["text"].startswith("Hello *World*") and "[1] https://x.y" in result["text"]
    assert result["type"] == "<class 'int'>"
    assert result["fmt"] == "%Y-%m-%d %H:%M:%S"
    assert result["time"] is True
    assert result["exceptions"] == ("ok", True, True, True)


def test_missing_param_is_a_clear_attribute_error(run) -> None:
    with pytest.raises(AttributeError, match="params has no 'NOPE'"):
        run("def handle_cron():\n    return params.NOPE\n", params={"A": "1"})


def test_log_levels_and_transmission(run) -> None:
    sent = []
    task = code("""
        def handle_cron():
            log('plain')
            log('careful', LOG_WARNING)
            log_transmission('https://peer', '{"a": 1}')
            log_outgoing_data('https://peer', 42)
    """)
    run(task, log_transmission=lambda recipient, data: sent.append((recipient, data)))
    assert run.logs == [("info", "plain"), ("warning", "careful")]
    assert sent == [("https://peer", '{"a": 1}'), ("https://peer", "42")]
    with pytest.raises(ValueError, match="log level"):
        run("def handle_cron():\n    log('x', 'loud')\n")


def test_add_job_and_links_are_passed_through_without_internals(run) -> None:
    queued = []

    def add_job(func_name, **options):
        return functools.partial(lambda *a, **kw: queued.append((func_name, options, a, kw)))

    links = {"get_link": functools.partial(lambda rel, ref, model=None: (rel, ref, model))}
    task = code("""
        def handle_cron():
            job = add_job('later', priority=5)
            job(1, x=2)
            try:
                job.func
            except AttributeError:
                hidden = True
            return get_link('rel', 'ext-1'), hidden
    """)
    assert run(task, add_job=add_job, link_api=links) == (("rel", "ext-1", None), True)
    assert queued == [("later", {"priority": 5}, (1,), {"x": 2})]


def test_record_link_methods_use_the_link_api(run) -> None:
    seen = []

    def record_set_link(record, relation, external, sync_date=None, allow_many2many=False):
        seen.append((record._name, record.id, relation, external, allow_many2many))
        return "link"

    task = "def handle_cron():\n    return env.user.set_link('rel', 'x', allow_many2many=True)\n"
    assert run(task, link_api=lambda env: {"record_set_link": record_set_link}) == "link"
    assert seen == [("res.users", 2, "rel", "x", True)]
    with pytest.raises(UserError, match="links are not available"):
        run("def handle_cron():\n    env.user.search_links('rel')\n")


# -- dispatch -----------------------------------------------------------------------------------


def test_handle_button_with_and_without_data(run) -> None:
    assert run("def handle_button():\n    return 'no data'\n", "handle_button",
               args=({"mode": "full"},)) == "no data"
    assert run("def handle_button(data):\n    return data['mode']\n", "handle_button",
               args=({"mode": "full"},)) == "full"
    assert run("def handle_button(data=None):\n    return data\n", "handle_button") is None


def test_handle_webhook_gets_the_request(run) -> None:
    request = {"json": {"update_id": 1}}
    assert run("def handle_webhook(httprequest):\n    return httprequest['json']\n",
               "handle_webhook", args=(request,)) == {"update_id": 1}


def test_handle_db_gets_a_recordset(run) -> None:
    task = "def handle_db(records):\n    return records._name, records.ids, records\n"
    model, ids, records = run(task, "handle_db", records=("res.partner", [2, 1]))
    assert (model, ids) == ("res.partner", [2, 1])
    assert isinstance(records, RecordSet)


def test_sub_job_function_with_arguments(run) -> None:
    task = "def push(partner_id, force=False):\n    return partner_id, force\n" \
           "def handle_cron():\n    pass\n"
    assert run(task, "push", args=(7,), kwargs={"force": True}) == (7, True)


@pytest.mark.parametrize("handler", ["handle_db", "log", "_private", "json", "env", "missing"])
def test_only_user_functions_can_be_handlers(run, handler: str) -> None:
    with pytest.raises(JobError):
        run("def handle_cron():\n    pass\n", handler)


def test_user_errors_propagate_unchanged(run) -> None:
    with pytest.raises(RetryableJobError, match="later"):
        run("def handle_cron():\n    raise RetryableJobError('later')\n")
    with pytest.raises(UserError, match="nope"):
        run("def handle_cron():\n    raise UserError('nope')\n")


# -- tracebacks ---------------------------------------------------------------------------------


def test_user_traceback_shows_only_user_code_and_masks_secrets(run) -> None:
    protected = "def call_api():\n    raise ValueError('refused token ' + secrets.TOKEN)\n"
    common = "def helper():\n    return call_api()\n"
    task = "def handle_cron():\n    value = 1\n    return helper()\n"
    with pytest.raises(ValueError) as info:
        run(task, protected_code=protected, common_code=common, secrets={"TOKEN": SECRET},
            task_name="Sync partners")
    text = format_user_traceback(info.value, secrets={"TOKEN": SECRET})
    assert SECRET not in text and "**********" in text
    assert 'File "<task: Sync partners>", line 3, in handle_cron' in text
    assert "    return helper()" in text
    assert 'File "<common>", line 2, in helper' in text
    # The error left protected code as a fresh one: no frames of protected code.
    assert "<protected>" not in text and "raise ValueError" not in text
    assert "worker/runtime" not in text and "runner.py" not in text
    assert text.endswith("ValueError: refused token **********")


def test_user_traceback_of_chained_errors(run) -> None:
    task = code("""
        def handle_cron():
            try:
                {}['k']
            except KeyError as e:
                raise UserError('lookup failed') from e
    """)
    with pytest.raises(UserError) as info:
        run(task)
    text = format_user_traceback(info.value)
    assert text.index("KeyError: 'k'") < text.index("direct cause") < text.index(
        "UserError: lookup failed")


def test_traceback_shows_the_source_of_the_failing_project(run) -> None:
    failing = "def helper():\n    return 1 / 0\n"
    other = "def helper():\n    return 'other project'\n"
    task = "def handle_cron():\n    return helper()\n"
    with pytest.raises(ZeroDivisionError) as info:
        run(task, common_code=failing)
    assert run(task, common_code=other) == "other project"  # compiled after the failure
    text = format_user_traceback(info.value)
    assert 'File "<common>", line 2, in helper\n    return 1 / 0' in text


def test_secret_values_are_masked_in_logs_and_data_out(run) -> None:
    sent = []
    protected = ("def bot_url():\n"
                 "    return 'https://api.telegram.org/bot' + secrets.BOT + '/send'\n")
    task = "def handle_cron():\n    log('calling ' + bot_url())\n" \
           "    log_transmission(bot_url(), 'text')\n"
    run(task, protected_code=protected, secrets={"BOT": "123:ABC-secret"},
        log_transmission=lambda r, d: sent.append(r))
    assert run.logs == [("info", "calling https://api.telegram.org/bot**********/send")]
    assert sent == ["https://api.telegram.org/bot**********/send"]
