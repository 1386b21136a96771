"""How every failure becomes an answer a client can act on, and never a 500.

- a refusal by the rules → 409 with the clerk's message; policy → 401/403; unknown zone → 404;
- bad input → 422 with every problem listed (without echoing megabytes of input back);
- a body over the cap → 413 before it is parsed, so a 10 MB vision text never reaches Temporal;
- Temporal unreachable → 503 in Japanese; anything unexpected → 503 with a generic message
  (logged with its traceback), answered by a middleware so no exception escapes to the server.

The same outermost middleware stamps every answer with `Server-Timing` (time spent in kenflow).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError

from kenflow.service import Refused, ZoneBusy, ZoneExists, ZoneNotFound
from models.codes import CodeError
from models.era import FiscalYearError
from models.kpi_values import ValueFormatError

from .core import TEMPORAL_DOWN, Denied, TemporalUnavailable, Web, pydantic_messages, summary_ja

log = logging.getLogger(__name__)

JSON_LIMIT = 2 * 1024 * 1024
UPLOAD_LIMIT = 5 * 1024 * 1024 + 64 * 1024  # the file's 5 MB plus the multipart envelope
UNEXPECTED = (
    "一時的な障害が発生しました。時間をおいて再度お試しください。解決しない場合は管理者に連絡してください"
    " (an unexpected error occurred; please retry later)"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _act_name(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "name", None) or request.url.path


def _web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


async def _audit(request: Request, reason: str) -> None:
    await _web(request).audit(
        request.path_params.get("zone_id"), _act_name(request), getattr(request.state, "actor", None), reason
    )


def _json(status: int, detail: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def on_validation(request: Request, exc: Exception) -> Response:
    errors = pydantic_messages(exc.errors())  # type: ignore[attr-defined]
    message = summary_ja(errors)
    await _audit(request, message)
    if not _is_api(request):  # a page's link or address typed wrong: a page that says so
        from .pages import error_page

        return error_page(request, 422, message)
    return _json(422, errors, message=message)


async def on_value_error(request: Request, exc: Exception) -> Response:
    """Codes, fiscal years and figures typed wrong in a path or query: CodeError and friends."""
    await _audit(request, str(exc))
    return _json(422, str(exc))


async def on_denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    if exc.status == 401:
        await _audit(request, exc.message)  # 403s were audited by run_act or the read checks
        if not _is_api(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


async def on_refused(request: Request, exc: Exception) -> Response:
    """Refused acts were audited where they were refused (core.run_act, start_zone)."""
    return _json(409, str(exc))


async def on_not_found(request: Request, exc: Exception) -> Response:
    return _json(404, str(exc))


async def on_busy(request: Request, exc: Exception) -> Response:
    log.warning("zone busy on %s: %s", request.url.path, exc)
    return _json(503, str(exc))


async def on_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("Temporal unavailable on %s: %s", request.url.path, exc)
    return _json(503, TEMPORAL_DOWN)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    for cls in (CodeError, FiscalYearError, ValueFormatError):
        app.add_exception_handler(cls, on_value_error)
    app.add_exception_handler(Denied, on_denied)
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(ZoneExists, on_refused)
    app.add_exception_handler(ZoneNotFound, on_not_found)
    app.add_exception_handler(ZoneBusy, on_busy)
    app.add_exception_handler(TemporalUnavailable, on_unavailable)
    app.add_exception_handler(RPCError, on_unavailable)


# --------------------------------------------------------------------------- middlewares


def _plain(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


def _with_server_timing(start: Message, began: float) -> Message:
    """`Server-Timing: app;dur=<ms>` on every response: the time kenflow spent on the request,
    so a slow answer can be told apart from time queued in the network or the client (browser
    devtools show it; bench/api_load.py reports it next to its own figures)."""
    dur = f"app;dur={(time.perf_counter() - began) * 1000:.1f}".encode()
    return {**start, "headers": [*start.get("headers", []), (b"server-timing", dur)]}


class GuardMiddleware:
    """Outermost guard: caps request bodies (413) and turns any escaped exception into a 503.

    The body is read here, up to the cap, and replayed to the app; a client that lies in
    Content-Length or streams chunked is cut off at the same cap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        began = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = _with_server_timing(message, began)
            await send(message)

        try:
            replay = await self._bounded(scope, receive)
            if replay is None:
                for m in _plain(413, self._too_large(scope)):
                    await send(m)
                return
            await self.app(scope, replay, tracking_send)
        except Exception:  # noqa: BLE001 — the point of this middleware
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                for m in _plain(503, UNEXPECTED):
                    await send(m)

    @staticmethod
    def _limit(scope: Scope) -> int:
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"")
        return UPLOAD_LIMIT if ctype.startswith(b"multipart/") else JSON_LIMIT

    def _too_large(self, scope: Scope) -> str:
        mb = self._limit(scope) // (1024 * 1024)
        return (
            f"送信されたデータが大きすぎます(上限 {mb} MB)。文書は分割するか、添付ファイルを小さくしてください"
            f" (request body larger than {mb} MB)"
        )

    async def _bounded(self, scope: Scope, receive: Receive) -> Receive | None:
        """A receive that replays the body, or None if the body is over the cap."""
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
