"""The command line: every subcommand has --help, and bad input gives one line, no traceback."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector.cli import main
from connector.store.db import Database
from connector.store.models import DashboardUser, Project

SPEC_COMMANDS = ["run", "web", "worker", "poller", "db", "user", "project", "secret", "trigger",
                 "job", "logs", "odoo-sim", "demo"]

PROJECT = """
name: Probe
odoo: {{url: "{url}", database: {database}, login: admin, password: "{password}",
       protocol: {protocol}}}
tasks:
  - name: T
    code: |
      def handle_button():
          log("clicked")
    triggers:
      button: [{{trigger_name: PRESS}}]
"""


@pytest.fixture
def runner(settings):
    env = {"SYNCSTUDIO_HOME": str(settings.home), "SYNCSTUDIO_DATABASE_URL": settings.database_url}
    cli = CliRunner(env=env)
    return cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_lists_the_spec_subcommands(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in SPEC_COMMANDS:
        assert f"  {name} " in result.output or f"  {name}\n" in result.output, name
    for name in SPEC_COMMANDS:
        sub = runner.invoke(main, [name, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output, name


def test_the_installed_console_script_answers():
    result = subprocess.run([sys.executable, "-m", "connector.cli", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "project" in result.stdout


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def write_project(tmp_path, **values):
    path = tmp_path / "p.yml"
    path.write_text(PROJECT.format(**values))
    return str(path)


def test_bad_project_file_gives_one_line(runner, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("name: x\ntasks: [\n")
    line = one_line_error(runner.invoke(main, ["project", "import", str(path)]))
    assert "not valid YAML" in line
    line = one_line_error(runner.invoke(main, ["project", "import", str(tmp_path / "none.yml")]))
    assert "cannot read" in line


def test_task_with_syntax_error_is_refused_with_position(runner, tmp_path, odoo_sim):
    path = write_project(tmp_path, url=odoo_sim.url, database=odoo_sim.database,
                         password="admin", protocol="jsonrpc")
    with open(path) as handle:
        text = handle.read().replace('log("clicked")', 'log("clicked"')
    with open(path, "w") as handle:
        handle.write(text)
    line = one_line_error(runner.invoke(main, ["project", "import", path]))
    assert "tasks[0]" in line and "line" in line and "column" in line


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc"])
def test_wrong_odoo_password_gives_one_line_and_saves_nothing(runner, tmp_path, odoo_sim,
                                                              settings, protocol):
    path = write_project(tmp_path, url=odoo_sim.url, database=odoo_sim.database,
                         password="wrong-pw-123", protocol=protocol)
    line = one_line_error(runner.invoke(main, ["project", "import", path]))
    assert "wrong-pw-123" not in line
    assert "login" in line.lower() or "password" in line.lower() or "authent" in line.lower()
    with Database(settings.database_url).session() as session:
        assert session.scalar(select(Project)) is None


def test_unreachable_odoo_gives_one_line(runner, tmp_path):
    path = write_project(tmp_path, url=f"http://127.0.0.1:{free_port()}", database="x",
                         password="pw", protocol="jsonrpc")
    line = one_line_error(runner.invoke(main, ["project", "import", path]))
    assert "127.0.0.1" in line
    result = runner.invoke(main, ["project", "import", "--no-check", path])
    assert result.exit_code == 0, result.output
    line = one_line_error(runner.invoke(main, ["connection", "test", "Probe"]))
    assert "127.0.0.1" in line


def test_import_test_export_and_run_a_button(runner, tmp_path, odoo_sim):
    path = write_project(tmp_path, url=odoo_sim.url, database=odoo_sim.database,
                         password="admin", protocol="jsonrpc")
    result = runner.invoke(main, ["project", "import", path])
    assert result.exit_code == 0, result.output
    assert "Odoo 17.0 reached" in result.output
    result = runner.invoke(main, ["connection", "test", "Probe"])
    assert result.exit_code == 0 and "OK: Odoo 17.0" in result.output
    result = runner.invoke(main, ["project", "export", "Probe"])
    assert result.exit_code == 0 and "trigger_name: PRESS" in result.output
    assert "admin" in result.output and "password" not in result.output
    result = runner.invoke(main, ["trigger", "run", "Probe", "PRESS"])
    assert result.exit_code == 0, result.output
    assert "done" in result.output and "clicked" in result.output
    result = runner.invoke(main, ["logs", "--project", "Probe", "--status", "success"])
    assert "clicked" in result.output
    result = runner.invoke(main, ["logs", "--project", "Probe", "--status", "fail"])
    assert "clicked" not in result.output
    line = one_line_error(runner.invoke(main, ["trigger", "run", "Probe", "NOPE"]))
    assert "has no trigger 'NOPE'" in line
    line = one_line_error(runner.invoke(main, ["trigger", "run", "Probe", "PRESS",
                                               "--data", "{bad"]))
    assert "--data is not valid JSON" in line


def test_secret_set_reads_stdin_and_encrypts(runner, tmp_path, odoo_sim, settings):
    path = write_project(tmp_path, url=odoo_sim.url, database=odoo_sim.database,
                         password="admin", protocol="jsonrpc")
    assert runner.invoke(main, ["project", "import", path]).exit_code == 0
    result = runner.invoke(main, ["secret", "set", "Probe", "API_TOKEN"], input="tok-xyz\n")
    assert result.exit_code == 0, result.output
    assert "tok-xyz" not in result.output
    with Database(settings.database_url).session() as session:
        secret = session.scalar(select(Project)).secrets[0]
        assert secret.key == "API_TOKEN" and "tok-xyz" not in secret.value_enc
    line = one_line_error(runner.invoke(main, ["secret", "set", "Nope", "X"], input="v"))
    assert "no project named 'Nope'" in line


def test_user_add_and_job_retry_errors(runner, settings):
    result = runner.invoke(main, ["user", "add", "ann", "--role", "manager",
                                  "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    with Database(settings.database_url).session() as session:
        user = session.scalar(select(DashboardUser))
        assert user.role == "manager" and "correct horse" not in user.password_hash
    one_line_error(runner.invoke(main, ["user", "add", "bob", "--password", "short"]))
    line = one_line_error(runner.invoke(main, ["job", "retry", "999"]))
    assert "job 999 does not exist" in line


def test_bad_setting_gives_one_line(runner):
    result = runner.invoke(main, ["db", "upgrade"], env={"SYNCSTUDIO_POLL_INTERVAL": "soon"})
    assert "SYNCSTUDIO_POLL_INTERVAL='soon' is not valid" in one_line_error(result)


def test_worker_without_broker_explains(runner):
    line = one_line_error(runner.invoke(main, ["worker"]))
    assert "SYNCSTUDIO_BROKER_URL" in line


def test_logs_filters(runner, tmp_path, odoo_sim):
    path = write_project(tmp_path, url=odoo_sim.url, database=odoo_sim.database,
                         password="admin", protocol="jsonrpc")
    with open(path) as handle:
        text = handle.read().replace('log("clicked")', 'log("clicked", LOG_WARNING)')
    text += """  - name: Other
    code: |
      def handle_button():
          log("other ran")
          raise ValueError("nope")
    triggers:
      button: [{trigger_name: OTHER}]
"""
    with open(path, "w") as handle:
        handle.write(text)
    assert runner.invoke(main, ["project", "import", path]).exit_code == 0
    assert runner.invoke(main, ["trigger", "run", "Probe", "PRESS"]).exit_code == 0
    failed = runner.invoke(main, ["trigger", "run", "Probe", "OTHER"])
    assert failed.exit_code == 1
    assert "failed" in failed.output and "ValueError: nope" in failed.output

    def logs(*args):
        result = runner.invoke(main, ["logs", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "clicked" in logs("--task", "T") and "other ran" not in logs("--task", "T")
    assert "other ran" in logs("--trigger", "OTHER") and "clicked" not in logs("--trigger", "OTHER")
    assert "clicked" in logs("--level", "warning") and "other ran" not in logs("--level", "warning")
    assert "nope" in logs("--status", "fail") and "clicked" not in logs("--status", "fail")
    assert "clicked" in logs("--since", "2000-01-01") and logs("--until", "2000-01-01") == ""
    assert "not an ISO date/time" in one_line_error(runner.invoke(main, ["logs", "--until", "x"]))


def test_trigger_snapshot_shows_progress(runner, tmp_path, odoo_sim):
    path = tmp_path / "s.yml"
    path.write_text(f"""
name: Snap
odoo: {{url: "{odoo_sim.url}", database: {odoo_sim.database}, login: admin, password: admin}}
tasks:
  - name: T
    code: |
      def handle_db(records):
          pass
      def handle_button():
          pass
    triggers:
      db:
        - {{trigger_name: EMAIL, model: res.partner, condition: write, watched_fields: [email]}}
      button: [{{trigger_name: PRESS}}]
""")
    assert runner.invoke(main, ["project", "import", str(path)]).exit_code == 0
    result = runner.invoke(main, ["trigger", "snapshot", "Snap", "EMAIL"])
    assert result.exit_code == 0, result.output
    assert "snapshot of res.partner:" in result.output and "built" in result.output
    line = one_line_error(runner.invoke(main, ["trigger", "snapshot", "Snap", "PRESS"]))
    assert "only DB triggers have snapshots" in line


def test_the_web_app_of_syncstudio_run_wakes_its_dispatcher(settings):
    """``syncstudio run`` hands its dispatcher to the web app, so "Run now" starts at once."""
    from connector.cli.base import web_app

    database = Database(settings.database_url)
    woken = []
    app = web_app(settings, database, lambda: woken.append(1))
    app.extensions["syncstudio.worker"].wake_dispatcher()
    assert woken == [1]
    assert web_app(settings, database).extensions["syncstudio.worker"].wake_dispatcher is None
    database.dispose()


@pytest.mark.slow
def test_run_and_web_say_how_to_create_the_first_manager(tmp_path):
    """With no dashboard user nobody can log in: both commands say what to type."""
    import os
    import signal

    from connector.cli.base import FIRST_USER_HINT
    from tests.support import wait_until

    env = {**os.environ, "SYNCSTUDIO_HOME": str(tmp_path / "var")}
    for name in ("SYNCSTUDIO_DATABASE_URL", "SYNCSTUDIO_BROKER_URL"):
        env.pop(name, None)
    cli = [sys.executable, "-c", "from connector.cli import main; main()"]
    for command in (["run", "--port", "0"], ["web", "--port", "0", "--processes", "1"]):
        log = tmp_path / f"{command[0]}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([*cli, *command], env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            wait_until(lambda log=log: "Dashboard:" in log.read_text(), 60,
                       f"`syncstudio {command[0]}`")
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert FIRST_USER_HINT in log.read_text()
    made = subprocess.run([*cli, "user", "add", "boss", "--role", "manager"], env=env,
                          input="long-password\nlong-password\n", capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    log = tmp_path / "again.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*cli, "web", "--port", "0", "--processes", "1"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Dashboard:" in log.read_text(), 60, "`syncstudio web`")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert FIRST_USER_HINT not in log.read_text()


# --------------------------------------------------------------------------- issue 14
DB_PROJECT = """
name: Checked
odoo: {{url: "{url}", database: {database}, login: admin, password: admin, protocol: jsonrpc}}
tasks:
  - name: Watch
    code: |
      def handle_db(records):
          pass
    triggers:
      db:
        - {{trigger_name: ON_PARTNER, model: {model}, condition: {condition},
           watched_fields: [{watched}], date_field: {date_field}}}
"""


def write_db_project(tmp_path, odoo_sim, model="res.partner", condition="write",
                     watched="email", date_field="null"):
    path = tmp_path / "db.yml"
    path.write_text(DB_PROJECT.format(url=odoo_sim.url, database=odoo_sim.database, model=model,
                                      condition=condition, watched=watched,
                                      date_field=date_field))
    return str(path)


def export_text(runner, name):
    result = runner.invoke(main, ["project", "export", name])
    assert result.exit_code == 0, result.output
    return result.output


def test_misspelt_triggers_key_is_refused_and_deletes_nothing(runner, tmp_path, odoo_sim,
                                                               settings):
    path = write_db_project(tmp_path, odoo_sim)
    assert runner.invoke(main, ["project", "import", path]).exit_code == 0, "first import"
    with Database(settings.database_url).session() as session:  # a task made in the dashboard
        from connector.store.models import Task
        project = session.scalar(select(Project))
        session.add(Task(project_id=project.id, name="Made in the dashboard", code=""))
    before = export_text(runner, "Checked")
    text = pathlib.Path(path).read_text().replace("    triggers:", "    trigers:")
    pathlib.Path(path).write_text(text)
    line = one_line_error(runner.invoke(main, ["project", "import", path]))
    assert line == ("Error: tasks[0]: unknown key 'trigers' (line 9) — did you mean "
                    "'triggers'?")
    assert export_text(runner, "Checked") == before


@pytest.mark.parametrize("change,message", [
    ({"model": "res.partnr"},
     "tasks[0].triggers.db[0].model: model 'res.partnr' does not exist in Odoo — did you mean "
     "'res.partner'? (line 11)"),
    ({"watched": "emial"},
     "tasks[0].triggers.db[0].watched_fields[0]: field 'emial' does not exist on res.partner "
     "— did you mean 'email'? (line 12)"),
    ({"condition": "time", "date_field": "name"},
     "tasks[0].triggers.db[0].date_field: field 'name' of res.partner is a char field; a timed "
     "condition needs a date or datetime field (line 12)"),
])
def test_triggers_are_checked_against_odoo_unless_no_check(runner, tmp_path, odoo_sim, settings,
                                                          change, message):
    path = write_db_project(tmp_path, odoo_sim, **change)
    line = one_line_error(runner.invoke(main, ["project", "import", path]))
    assert line == f"Error: {message}"
    with Database(settings.database_url).session() as session:
        assert session.scalar(select(Project)) is None
    result = runner.invoke(main, ["project", "import", "--no-check", path])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_import_keeps_what_only_the_database_has(
        runner, tmp_path, odoo_sim, settings):
    path = write_db_project(tmp_path, odoo_sim)
    result = runner.invoke(main, ["project", "import", "--dry-run", path])
    assert result.exit_code == 0, result.output
    assert "+ task 'Watch'" in result.output
    assert "+ db trigger ON_PARTNER of task 'Watch'" in result.output
    assert "dry run, nothing written: project 'Checked': 2 created" in result.output
    with Database(settings.database_url).session() as session:
        assert session.scalar(select(Project)) is None
    assert runner.invoke(main, ["project", "import", path]).exit_code == 0
    text = pathlib.Path(path).read_text()
    smaller = text[:text.index("    triggers:")] + "      def handle_button():\n          pass\n"
    pathlib.Path(path).write_text(smaller.replace("- name: Watch", "- name: Other"))
    result = runner.invoke(main, ["project", "import", "--dry-run", path])
    assert result.output.splitlines()[1:] == [
        "+ task 'Other'",
        "= db trigger ON_PARTNER of task 'Watch'",
        "= task 'Watch'",
        "dry run, nothing written: project 'Checked': 1 created, 2 kept; only in the database, "
        "kept: db trigger ON_PARTNER of task 'Watch', task 'Watch' (--prune deletes them)"]
    result = runner.invoke(main, ["project", "import", path])
    assert result.exit_code == 0, result.output
    assert "ON_PARTNER" in export_text(runner, "Checked")
    result = runner.invoke(main, ["project", "import", "--prune", path])
    assert "imported project 'Checked': 2 deleted; it has 1 task(s), 0 trigger(s)" \
        in result.output, result.output
    exported = export_text(runner, "Checked")
    assert "ON_PARTNER" not in exported and "Watch" not in exported and "Other" in exported


def test_schema_command_prints_a_json_schema_the_demo_projects_satisfy(runner):
    import json

    import jsonschema
    import yaml

    result = runner.invoke(main, ["project", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted(pathlib.Path("connector/demo").glob("*.yml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "parms": {}}, schema)


def test_alias_bomb_project_file_is_refused_in_one_line(runner, tmp_path):
    # 416 and 518 bytes took +72 MB, and a MemoryError, before the bound.
    levels = "\n".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]"
                       for i in range(1, 9))
    path = tmp_path / "bomb.yml"
    path.write_text(f"name: bomb\nl0: &l0 [lol]\n{levels}\n")
    assert len(path.read_text()) < 600
    line = one_line_error(runner.invoke(main, ["project", "import", "--no-check", str(path)]))
    assert "YAML aliases (*name) would expand" in line


def test_the_login_page_says_how_to_create_the_first_manager(tmp_path):
    from connector.settings import Settings
    from connector.store import migrate
    from webui import create_app

    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path)})
    database = Database(settings.database_url)
    migrate.upgrade(database)
    client = create_app({"SETTINGS": settings, "DATABASE": database}).test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "syncstudio user add NAME --role manager" in page
    with database.session() as session:
        session.add(DashboardUser(login="boss", role="manager", password_hash="x"))
    page = client.get("/login").get_data(as_text=True)
    assert "syncstudio user add" not in page
    database.dispose()
