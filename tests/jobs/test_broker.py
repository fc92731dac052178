"""The broker: a Redis namespace read from the URL, messages filed under their own id, and the
questions the dispatcher asks about them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import dramatiq
import pytest

from tests.support import delete_keys, require_rabbitmq
from worker.broker import (
    DEFAULT_NAMESPACE,
    QUEUE,
    held_messages,
    make_broker,
    split_namespace,
    waiting_messages,
)
from worker.dispatch import message_id


def test_namespace_is_taken_out_of_the_url_and_timeouts_are_set():
    assert split_namespace("redis://h:6379/13?namespace=ns-1&socket_timeout=5") == \
        ("redis://h:6379/13?socket_timeout=5&socket_connect_timeout=10", "ns-1")
    assert split_namespace("rediss://u:p@h/0") == (
        "rediss://u:p@h/0?socket_timeout=30&socket_connect_timeout=10", DEFAULT_NAMESPACE)


def test_a_redis_that_never_answers_fails_a_send_instead_of_stalling(settings):
    """A peer that accepts the connection and then says nothing (a network dropping packets):
    the send gives up after the URL's socket timeout with the broker's connection error."""
    import socket
    import time

    from dramatiq.errors import BrokerConnectionError

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        broker = make_broker(dataclasses.replace(
            settings, broker_url=f"redis://127.0.0.1:{port}/0?socket_timeout=0.5"))
        broker.declare_queue(QUEUE)
        started = time.monotonic()
        with pytest.raises(BrokerConnectionError):
            broker.enqueue(dramatiq.Message(queue_name=QUEUE, actor_name="run_job",
                                            args=(1,), kwargs={}, options={}))
        assert time.monotonic() - started < 10


def test_message_ids_are_derived_from_the_job_and_its_send():
    at = dt.datetime(2024, 5, 1, 12, 0, 0, 123456)
    assert message_id(7, at) == message_id(7, at.replace(tzinfo=dt.UTC))
    assert len({message_id(7, at), message_id(8, at),
                message_id(7, at + dt.timedelta(microseconds=1))}) == 3
    uuid.UUID(message_id(7, at))  # a valid id for any broker


def test_namespaces_do_not_see_each_other(settings, redis_url):
    ours = make_broker(dataclasses.replace(settings, broker_url=redis_url))
    other_namespace = f"other-{uuid.uuid4().hex[:8]}"
    other_url = redis_url.replace(ours.namespace, other_namespace)
    theirs = make_broker(dataclasses.replace(settings, broker_url=other_url))
    try:
        assert theirs.namespace == other_namespace != ours.namespace
        for broker in (ours, theirs):
            dramatiq.Actor(lambda job_id: None, broker=broker, actor_name="run",
                           queue_name=QUEUE, priority=0, options={})
        sent = ours.enqueue(ours.actors["run"].message(1))
        # Filed under the message's own id, so it can be asked for by that id.
        assert sent.options["redis_message_id"] == sent.message_id
        assert held_messages(ours, QUEUE, [sent.message_id, "x"]) == {sent.message_id}
        assert waiting_messages(ours, QUEUE) == 1
        assert held_messages(theirs, QUEUE, [sent.message_id]) == set()
        assert waiting_messages(theirs, QUEUE) == 0
    finally:
        delete_keys(theirs.client, other_namespace)
        ours.close()
        theirs.close()


def test_rabbitmq_counts_a_queue_never_declared_as_empty(settings):
    broker = make_broker(dataclasses.replace(settings, broker_url=require_rabbitmq()))
    try:
        assert held_messages(broker, QUEUE, ["x"]) is None  # no look-up by id on RabbitMQ
        missing = f"syncstudio-test-missing-{uuid.uuid4().hex[:12]}"
        assert waiting_messages(broker, missing) == 0
        assert waiting_messages(broker, missing) == 0  # the channel the 404 closed is replaced
    finally:
        broker.close()


def test_stub_broker_is_counted(settings):
    broker = make_broker(settings)
    assert held_messages(broker, QUEUE, ["x"]) is None
    assert waiting_messages(broker, QUEUE) == 0
    dramatiq.Actor(lambda job_id: None, broker=broker, actor_name="run", queue_name=QUEUE,
                   priority=0, options={})
    broker.enqueue(broker.actors["run"].message(1))
    assert waiting_messages(broker, QUEUE) == 1
