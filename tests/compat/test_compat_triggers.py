"""Each kind of handler as its trigger calls it: buttons (with and without data), crons, and
DB triggers' records (created, updated, deleted), written the way the seeds' projects do."""

from __future__ import annotations


def test_button_without_data(compat):
    assert compat.button("def handle_button():\n    return 'clicked'\n").ok().result == "clicked"


def test_button_with_data(compat):
    run = compat.button("""
        def handle_button(data):
            return "mode %s, %d ids" % (data["mode"], len(data["ids"]))
    """, data={"mode": "full", "ids": [1, 2, 3]}).ok()
    assert run.result == "mode full, 3 ids"


def test_button_data_defaults_to_none(compat):
    assert compat.button("def handle_button(data=None):\n    return data is None\n").ok().result


def test_button_data_from_the_project_file(compat):
    compat.install("def handle_button(data):\n    return data['limit'] * 2\n",
                   triggers={"button": [{"trigger_name": "GO", "data": {"limit": 21}}]})
    trigger = compat.trigger("GO")
    run = compat.run_trigger("GO", (trigger.data,)).ok()
    assert run.result == 42


def test_cron_handler(compat, odoo):
    partner = compat.partner(ref=False)
    run = compat.cron(f"""
        def handle_cron():
            todo = env["res.partner"].search([("id", "=", {partner}), ("ref", "=", False)])
            todo.write({{"ref": "cron-seen"}})
            log("%d partner(s) tagged" % len(todo))
    """).ok()
    assert run.lines() == ["1 partner(s) tagged"]
    assert odoo.read("res.partner", partner, ["ref"])["ref"] == "cron-seen"


def test_cron_sees_its_trigger(compat):
    assert compat.cron("def handle_cron():\n    return trigger_name\n").ok().result \
        == "EVERY_HOUR"


def test_db_handler_gets_a_recordset(compat):
    a, b = compat.partner("DB Ada"), compat.partner("DB Bob")
    run = compat.db_event("""
        def handle_db(records):
            return [len(records), records.ids, records.mapped("name"), trigger_name]
    """, [a, b]).ok()
    assert run.result == [2, [a, b], ["DB Ada", "DB Bob"], "ON_PARTNER"]


def test_db_handler_writes_back(compat, odoo):
    partner = compat.partner("DB write-back")
    compat.db_event("""
        def handle_db(records):
            for partner in records:
                partner.write({"ref": "seen-%d" % partner.id})
    """, [partner]).ok()
    assert odoo.read("res.partner", partner, ["ref"])["ref"] == f"seen-{partner}"


def test_db_handler_reads_fields_in_one_batch(compat):
    ids = [compat.partner(f"Batch {i}") for i in range(3)]
    run = compat.db_event("""
        def handle_db(records):
            return ["%s:%s" % (p.id, p.name) for p in records]
    """, ids).ok()
    assert run.result == [f"{i}:Batch {n}" for n, i in enumerate(ids)]


def test_db_handler_on_messages(compat):
    """The Telegram demo's reply trigger: records are mail.message, linked to a partner."""
    partner = compat.partner("Chat partner", ref="77@telegram")
    message = compat.odoo.call("res.partner", "message_post", [partner],
                               body="/telegram Hello there")
    run = compat.db_event("""
        def handle_db(records):
            out = []
            for message in records:
                if message.model != "res.partner" or not message.res_id:
                    continue
                partner = env["res.partner"].browse(message.res_id)
                text = html2plaintext(message.body or "").strip()
                out.append([partner.ref, text[len("/telegram"):].strip()])
            return out
    """, [message], model="mail.message").ok()
    assert run.result == [["77@telegram", "Hello there"]]


def test_deleted_records_answer_their_last_values(compat):
    partner = compat.partner("Soon gone")
    compat.odoo.call("res.partner", "unlink", [partner])
    run = compat.db_event("""
        def handle_db(records):
            out = [records.ids, records.mapped("name")]
            try:
                records.email
            except MissingError:
                out.append("email is gone")
            return out
    """, [partner], deleted={partner: {"name": "Soon gone"}}).ok()
    assert run.result == [[partner], ["Soon gone"], "email is gone"]


def test_a_failing_db_job_names_the_line(compat):
    partner = compat.partner()
    run = compat.db_event("""
        def handle_db(records):
            for p in records:
                raise ValidationError("bad phone on %s" % p.id)
    """, [partner])
    assert run.state == "failed" and run.error.endswith(f"bad phone on {partner}")
    assert "line 3, in handle_db" in run.traceback


def test_one_task_with_several_handlers(compat):
    code = """
        def handle_button():
            return shared("button")

        def handle_cron():
            return shared("cron")

        def shared(kind):
            return "%s via %s" % (kind, trigger_name)
    """
    assert compat.button(code).ok().result == "button via GO"
    assert compat.cron(code).ok().result == "cron via EVERY_HOUR"
