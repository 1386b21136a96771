"""kenflow's HTTP server keeps an idle connection open longer than clients' pools do (httpx
expires idle connections after 5 s, uvicorn's own default), so a client never sends a request
on a connection the server is closing. On a real uvicorn, over a raw socket."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from kenflow.web.serve import KEEP_ALIVE_SECONDS, uvicorn_config

REQUEST = b"GET / HTTP/1.1\r\nHost: kenflow\r\n\r\n"


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    await writer.drain()
    return await asyncio.wait_for(reader.read(4096), timeout=5)


async def test_a_connection_idle_past_the_clients_pool_expiry_still_answers() -> None:
    assert KEEP_ALIVE_SECONDS > 5
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(hello, "127.0.0.1", port))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await answer(reader, writer)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(6)  # past httpx's (and uvicorn's default) 5 s
        again = await answer(reader, writer)  # b"" had the server closed the connection
        assert again.startswith(b"HTTP/1.1 200"), again
        writer.close()
    finally:
        server.should_exit = True
        await serving
