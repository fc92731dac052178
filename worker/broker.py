"""The Dramatiq broker: Redis or RabbitMQ in production, an in-process stub by default."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from connector.settings import Settings

QUEUE = "syncstudio"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker named by ``SYNCSTUDIO_BROKER_URL``; none configured → in-process stub."""
    url = settings.broker_url
    if not url:
        broker: dramatiq.Broker = StubBroker()
    elif url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    # Retries belong to the own database (jobs.postpone + the dispatcher), not to Dramatiq, so a
    # retry survives a broker restart; remove Dramatiq's own retry middleware to avoid doubling.
    for middleware in list(broker.middleware):
        if type(middleware).__name__ == "Retries":
            broker.middleware.remove(middleware)
    return broker


def describe(settings: Settings) -> str:
    """A short, password-free description of the broker for logs and ``--help`` output."""
    url = settings.broker_url
    if not url:
        return "in-process"
    scheme, _, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{host}"
