"""Serving the web app in a process of its own: `kenflow web`, and the child `kenflow up` starts.

The pages and the API live apart from the worker so that a read never waits behind a workflow
activation or a projection on a shared event loop, and so the OS can schedule them first
(`kenflow up` runs everything else at a lower priority: Settings.background_nice).
"""

from __future__ import annotations

import uvicorn

from kenflow.settings import Settings

# An act in flight waits for its Update; a stop should not wait on a slow one for ever.
GRACEFUL_SECONDS = 10
# How long an idle keep-alive connection stays open. uvicorn's default, 5 s, is also the idle
# expiry of httpx's connection pool: a client that reuses a connection just as the server closes
# it loses that request (bench/api_load.py saw one ReadError in 8,200 requests). Longer than
# the clients' pools, the server is never the one that closes first.
KEEP_ALIVE_SECONDS = 75


def uvicorn_config(app: object, host: str, port: int) -> uvicorn.Config:
    """How kenflow serves its app (here, and in the tests' live server)."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


async def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's own handlers), then finish requests in hand."""
    import gc

    from .app import create_app

    app = create_app(settings)
    # Everything loaded so far (FastAPI, pydantic schemas, SQLAlchemy, the templates) lives as
    # long as the process: out of the collector's sight, each full collection scans ~20k
    # objects instead of ~180k. Measured under bench/api_load.py: pauses of 130-170 ms every
    # 6-9 s, which every read in flight waited out, became ~70 ms and rarer.
    gc.freeze()
    await uvicorn.Server(uvicorn_config(app, settings.host, settings.web_port)).serve()
