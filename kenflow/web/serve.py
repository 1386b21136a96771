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
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.web_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    await uvicorn.Server(config).serve()
