"""The gateway process: one aiohttp application on OCOP_WEB_HOST:OCOP_INGEST_PORT.

aiohttp rather than starlette on uvicorn: on this project's 2-core machine, one server
process answering 500-event POSTs (decode and 202, client on the same machine, uvloop)
did 1,915 requests/s with aiohttp 3.14 and 1,580 with starlette 1.10 on uvicorn 0.54
(httptools): aiohttp is faster and is already installed with faust.

Usage::

    run_ingest(settings)   # until SIGTERM or SIGINT
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from common.settings import Settings
from ingest.events import MAX_BODY_BYTES
from ingest.producer import Delivery
from ingest.routes import Gateway, count_requests
from ingest.tiktok_shop import HttpAmountLookup
from ingest.webhook_routes import Webhooks
from ingest.webhooks import load_sources
from store.client import redis_client

# A Redis call of a request waits at most this long.
_REDIS_TIMEOUT_S = 5.0
# An order-detail call waits at most this long; the platform then gets 503 and redelivers.
_LOOKUP_TIMEOUT_S = 5.0


def build_app(settings: Settings) -> web.Application:
    """The application, connecting to Kafka and Redis when it starts.

    Raises SourceError for an unreadable OCOP_WEBHOOK_SOURCES file.
    """
    sources = load_sources(settings.webhook_sources)
    app = web.Application(middlewares=[count_requests], client_max_size=MAX_BODY_BYTES)
    redis = redis_client(settings, socket_timeout=_REDIS_TIMEOUT_S,
                           socket_connect_timeout=_REDIS_TIMEOUT_S)
    delivery = Delivery(settings)
    lookup = HttpAmountLookup(timeout_s=_LOOKUP_TIMEOUT_S)
    app.add_routes(Gateway(settings, redis, delivery).routes())
    app.add_routes(Webhooks(settings, redis, delivery, sources, lookup).routes())

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await delivery.start()
        await lookup.start()
        yield
        await lookup.close()
        await delivery.stop()
        await redis.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


def run_ingest(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT."""
    web.run_app(build_app(settings), host=settings.web_host, port=settings.ingest_port,
                access_log=None, print=None)
