"""The Dramatiq broker: Redis or RabbitMQ in production, an in-process stub by default; and what
the dispatcher may ask it about the messages it holds."""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Collection
from typing import Any

import dramatiq
import pika.exceptions
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed, ConnectionFailed

from connector.settings import Settings

QUEUE = "syncstudio"

#: Dramatiq's own key prefix, kept as the default so messages queued before an upgrade are found.
DEFAULT_NAMESPACE = "dramatiq"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker named by ``SYNCSTUDIO_BROKER_URL``; none configured → in-process stub.

    A Redis URL may carry ``?namespace=NAME``, the prefix of every key the broker writes (default
    ``dramatiq``), so that installations (or test sessions) sharing one Redis database never see
    each other's messages. It is read here because redis-py would reject it as a connection
    parameter, and it travels with the URL to every worker process.
    """
    url = settings.broker_url
    if not url:
        broker: dramatiq.Broker = StubBroker()
    elif url.startswith(("redis://", "rediss://")):
        url, namespace = split_namespace(url)
        broker = RedisBroker(url=url, namespace=namespace)
    else:
        broker = RabbitmqBroker(url=url)
    # Retries belong to the own database (lifecycle.postpone + the dispatcher), not to Dramatiq,
    # so a retry survives a broker restart; Dramatiq's own retry middleware would double them.
    for middleware in list(broker.middleware):
        if type(middleware).__name__ == "Retries":
            broker.middleware.remove(middleware)
    return broker


#: Seconds a Redis command or connection attempt may take unless the URL says otherwise
#: (redis-py reads ``socket_timeout`` / ``socket_connect_timeout`` from the URL's query): without
#: them, a network that silently drops packets would stall the dispatcher and consumers forever.
REDIS_TIMEOUTS = {"socket_timeout": "30", "socket_connect_timeout": "10"}


def split_namespace(url: str) -> tuple[str, str]:
    """A Redis URL without its ``namespace`` query parameter (and with the default
    :data:`REDIS_TIMEOUTS` where it sets none), and that namespace."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    namespace = next((value for key, value in query if key == "namespace"), "")
    kept = [(key, value) for key, value in query if key != "namespace"]
    kept += [(key, value) for key, value in REDIS_TIMEOUTS.items()
             if key not in {name for name, _ in kept}]
    rest = urllib.parse.urlencode(kept)
    return urllib.parse.urlunsplit(parts._replace(query=rest)), namespace or DEFAULT_NAMESPACE


def describe(settings: Settings) -> str:
    """A short, password-free description of the broker for logs and ``--help`` output."""
    url = settings.broker_url
    if not url:
        return "in-process"
    scheme, _, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


# --------------------------------------------------------------------------- Redis
class RedisBroker(DramatiqRedisBroker):
    """Dramatiq's RedisBroker, but filing each message under its own message id.

    Dramatiq's RedisBroker files a message in ``<namespace>:<queue>.msgs`` (a hash: id → data)
    under a fresh random id per enqueue, because its retry middleware re-enqueues the same
    message. Sync Studio removes that middleware and gives every send a new message id (see
    ``worker.dispatch.message_id``), so the message id itself can be the key — and the dispatcher
    can then ask whether a job's message is still there (:func:`held_messages`).
    """

    def enqueue(self, message: dramatiq.Message[Any], *,
                delay: int | None = None) -> dramatiq.Message[Any]:
        try:
            if delay is not None:  # never used by Sync Studio: etas are the dispatcher's
                return super().enqueue(message, delay=delay)
            message = message.copy(options={"redis_message_id": message.message_id})
            self.emit_before("enqueue", message, delay)
            self.do_enqueue(message.queue_name, message.message_id, message.encode())
            self.emit_after("enqueue", message, delay)
            return message
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The same error as the RabbitMQ broker's, so callers handle one kind of outage.
            raise ConnectionClosed(exc) from None


# --------------------------------------------------------------------------- questions
def held_messages(broker: dramatiq.Broker, queue_name: str,
                  message_ids: Collection[str]) -> set[str] | None:
    """Those of ``message_ids`` whose message the broker still holds: waiting in the queue or
    fetched by a worker and not yet acknowledged (even by a dead worker: Dramatiq puts those back
    in the queue once the worker's heartbeat is older than its ``heartbeat_timeout``).

    None when the broker cannot look a message up by id (RabbitMQ, the stub, Dramatiq's own
    RedisBroker with its random keys). Raises ``ConnectionFailed`` when it cannot be reached.
    """
    if not isinstance(broker, RedisBroker):
        return None
    ids = list(message_ids)
    if not ids:
        return set()
    # Every message, queued or unacknowledged, stays in this hash until it is acknowledged.
    key = f"{broker.namespace}:{queue_name}.msgs"
    try:
        pipe = broker.client.pipeline(transaction=False)
        for message_id in ids:
            pipe.hexists(key, message_id)
        found = pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionFailed(exc) from None
    return {message_id for message_id, there in zip(ids, found, strict=True) if there}


def waiting_messages(broker: dramatiq.Broker, queue_name: str) -> int | None:
    """How many messages wait in ``queue_name`` for a worker; messages already delivered to a
    worker are not counted. None for a broker of another kind; raises ``ConnectionFailed`` when
    the broker cannot be reached."""
    if isinstance(broker, StubBroker):
        queue = broker.queues.get(queue_name)
        return 0 if queue is None else queue.qsize()
    if isinstance(broker, DramatiqRedisBroker):
        try:
            return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ConnectionFailed(exc) from None
    if isinstance(broker, RabbitmqBroker):
        return _rabbitmq_waiting(broker, queue_name)
    return None


def _rabbitmq_waiting(broker: RabbitmqBroker, queue_name: str) -> int:
    try:
        # A passive declare only reads the queue's counters; ``message_count`` is the number of
        # ready messages (those delivered but unacknowledged are not in it). It may also miss
        # messages published a moment ago: publishes are not confirmed, and the queue answers
        # the count before the deliveries waiting for it. The dispatcher asks only about jobs
        # enqueued long ago, whose messages are counted by then.
        return int(broker.channel.queue_declare(queue=queue_name, passive=True)
                   .method.message_count)
    except pika.exceptions.ChannelClosedByBroker as exc:
        del broker.channel  # the broker closed it; the next caller opens a new one
        if exc.reply_code == 404:  # the queue was never declared: nothing waits in it
            return 0
        raise ConnectionFailed(exc) from None
    except pika.exceptions.AMQPError as exc:
        # A stale connection (RabbitMQ restarted) is dropped so the next pass reconnects.
        del broker.connection
        raise ConnectionFailed(exc) from None


class QuietReconnects(logging.Filter):
    """Collapse Dramatiq's consumer reconnect noise into one line per outage.

    While the broker is unreachable, each consumer thread logs a CRITICAL line and a
    "Restarting consumer" line every few seconds, for ever. This filter lets the first error
    through as one WARNING, then a reminder every ``remind_after`` seconds; a line from a consumer
    that is not about a connection error means the outage is over.
    """

    PREFIX = "dramatiq.worker.ConsumerThread"

    def __init__(self, remind_after: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.remind_after = remind_after
        self.clock = clock
        self.since: float | None = None
        self.reminded = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.PREFIX):
            return True
        message = record.getMessage()
        if message.startswith("Restarting consumer"):
            return self.since is None
        if "connection error" not in message:
            self.since = None
            return True
        now = self.clock()
        if self.since is None:
            self.since = self.reminded = now
            detail = message.split("connection error:", 1)[-1].strip()
        elif now - self.reminded >= self.remind_after:
            self.reminded = now
            detail = f"still unreachable after {now - self.since:.0f} s"
        else:
            return False
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = ("broker unreachable (%s); consumers keep retrying quietly",
                                   (detail,))
        return True


def quiet_reconnects(remind_after: float = 300.0) -> QuietReconnects:
    """Install :class:`QuietReconnects` on the root logger's handlers; returns it."""
    quiet = QuietReconnects(remind_after)
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    return quiet
