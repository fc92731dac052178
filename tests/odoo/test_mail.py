"""mail.thread and activities: message_post, mail.message rows, mail.activity."""

from __future__ import annotations

import xmlrpc.client
from datetime import date, timedelta

import pytest


@pytest.fixture
def partner(target, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": f"{marker} mail"}])
    cleanup("res.partner", pid)
    return pid


def _admin_partner(target):
    [user] = target.execute_kw("res.users", "read", [[target.uid], ["partner_id"]])
    return user["partner_id"][0]


def test_message_post_creates_a_mail_message(target, partner):
    message_id = target.execute_kw("res.partner", "message_post", [[partner]], {
        "body": "/telegram hello", "message_type": "comment",
        "subtype_xmlid": "mail.mt_comment"})
    assert isinstance(message_id, int)
    [row] = target.execute_kw("mail.message", "read", [[message_id], [
        "model", "res_id", "body", "message_type", "author_id", "subtype_id", "date",
        "write_date"]])
    assert row["model"] == "res.partner" and row["res_id"] == partner
    assert "/telegram hello" in row["body"]
    assert row["message_type"] == "comment"
    assert row["author_id"][0] == _admin_partner(target)
    assert row["subtype_id"] and row["date"] and row["write_date"]
    [owner] = target.execute_kw("res.partner", "read", [[partner], ["message_ids"]])
    assert message_id in owner["message_ids"]


def test_posted_messages_are_searchable_by_record(target, partner):
    first = target.execute_kw("res.partner", "message_post", [[partner]], {"body": "one"})
    second = target.execute_kw("res.partner", "message_post", [[partner]], {"body": "two"})
    found = target.execute_kw("mail.message", "search", [[
        ("model", "=", "res.partner"), ("res_id", "=", partner), ("id", "in", [first, second])]])
    assert found == [second, first]  # mail.message orders newest first


def test_message_post_needs_one_record(target, partner, marker, cleanup):
    other = target.execute_kw("res.partner", "create", [{"name": f"{marker} other"}])
    cleanup("res.partner", other)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "message_post", [[partner, other]], {"body": "x"})
    assert "Expected singleton" in info.value.faultString


def test_activity_on_a_partner(target, partner):
    [model_id] = target.execute_kw("ir.model", "search", [[("model", "=", "res.partner")]])
    deadline = (date.today() + timedelta(days=3)).isoformat()
    activity = target.execute_kw("mail.activity", "create", [{
        "res_model_id": model_id, "res_id": partner, "summary": "call back",
        "date_deadline": deadline, "user_id": target.uid}])
    [row] = target.execute_kw("mail.activity", "read", [[activity], [
        "res_model", "res_id", "date_deadline", "user_id", "summary", "state"]])
    assert row["res_model"] == "res.partner" and row["res_id"] == partner
    assert row["date_deadline"] == deadline and row["user_id"][0] == target.uid
    assert row["state"] == "planned"
    found = target.execute_kw("mail.activity", "search", [[
        ("res_model", "=", "res.partner"), ("res_id", "=", partner),
        ("date_deadline", "<=", deadline)]])
    assert found == [activity]
    [owner] = target.execute_kw("res.partner", "read", [[partner], ["activity_ids"]])
    assert owner["activity_ids"] == [activity]
    target.execute_kw("mail.activity", "unlink", [[activity]])


def test_ir_model_lists_the_models(target):
    rows = target.execute_kw("ir.model", "search_read", [[("model", "in", [
        "res.partner", "mail.message", "mail.activity"])]], {"fields": ["model", "name"]})
    assert {row["model"]: row["name"] for row in rows} == {
        "res.partner": "Contact", "mail.message": "Message", "mail.activity": "Activity"}
    count = target.execute_kw("ir.model.fields", "search_count", [[
        ("model", "=", "res.partner"), ("name", "in", ["name", "write_date", "parent_id"])]])
    assert count == 3
