"""Temporal's remote codec protocol at /codec, so people can read compressed payloads.

kenflow compresses large payloads (`kenflow/codec.py`). The temporal CLI
(`temporal workflow show --codec-endpoint http://127.0.0.1:8000/codec`) and the Web UI (which
`kenflow up` starts pointed here; elsewhere, set it in the UI's Data Encoder settings) post
`{"payloads": [...]}` to `/codec/decode` and show what comes back.

No token is asked for: zlib is not encryption, so decoding gives nobody anything the payload did
not already hold. The browser calls come from the UI's origin, so this sub-application answers
CORS for that origin alone (and those in `codec_origins`), and the rest of kenflow answers none.
"""

from __future__ import annotations

import zlib

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from kenflow.codec import compress, decompress
from kenflow.settings import Settings

_BAD_BODY = (
    '本文は Temporal のリモートコーデック形式 {"payloads": [...]} の JSON で送ってください '
    '(the body must be Temporal remote-codec JSON: {"payloads": [...]})'
)


def ui_origins(settings: Settings) -> list[str]:
    """The embedded Web UI under each name a browser may use for it, and the configured ones."""
    port = settings.temporal_ui_port
    hosts = dict.fromkeys([settings.host, "127.0.0.1", "localhost"])
    extra = [o.strip().rstrip("/") for o in settings.codec_origins.split(",") if o.strip()]
    return [f"http://{h}:{port}" for h in hosts] + extra


async def _payloads(request: Request) -> Payloads | JSONResponse:
    try:
        return json_format.Parse(await request.body(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError, ValueError):
        return JSONResponse({"detail": _BAD_BODY}, status_code=400)


def _answer(payloads: list) -> JSONResponse:  # type: ignore[type-arg]
    body = json_format.MessageToDict(Payloads(payloads=payloads))
    return JSONResponse({"payloads": body.get("payloads", [])})


def codec_app(settings: Settings) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        got = await _payloads(request)
        if isinstance(got, JSONResponse):
            return got
        try:
            return _answer([decompress(p) for p in got.payloads])
        except (zlib.error, ValueError, DecodeError) as err:
            return JSONResponse(
                {
                    "detail": f"圧縮されたペイロードを復元できません (cannot inflate a binary/zlib payload: {err})"
                },
                status_code=400,
            )

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        got = await _payloads(request)
        if isinstance(got, JSONResponse):
            return got
        return _answer([compress(p) for p in got.payloads])

    app.add_middleware(
        CORSMiddleware,
        allow_origins=ui_origins(settings),
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        allow_credentials=True,
    )
    return app
