"""Payloads compressed before they reach Temporal, and the data converter everything uses.

A zone carries its whole state into each fiscal year's run (the continue-as-new input, stored
again as the next run's start), and every batch of notices goes to the sender with its bodies.
Those payloads are JSON full of repeated keys and Japanese prose; zlib halves them or better. Every
byte of history is held by the server (in memory, on the time-skipping server), sent to workers
that replay a run, and billed on Temporal Cloud, for as long as a zone lives.

Small payloads (an act, its answer) stay as they are, so `temporal workflow show` still reads
them without help; a compressed one shows as `binary/zlib` until the CLI or the Web UI is pointed
at kenflow's codec endpoint (`/codec`, see `kenflow/web/codec.py`). The format is the Go SDK's
`converter.NewZlibCodec`: the whole `Payload` message, serialized and zlib-compressed, under the
encoding `binary/zlib`, and only where that is smaller. Payloads written before this codec existed
carry no such encoding and pass through `decode` unchanged, so old histories replay as they were.

Every process that talks to kenflow's workflows (worker, web app, CLI, a replayer) must use
`DATA_CONVERTER`: a client without the codec cannot read a compressed answer.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

ENCODING = b"binary/zlib"
# Below this many serialized bytes a payload is left readable: acts and their answers are a few
# hundred bytes, where zlib saves little; the carried state and notice batches are kilobytes.
THRESHOLD = 512
# Level 1: a ten-year zone's state (~20 KB) compresses in ~0.2 ms on the worker's event loop;
# higher levels cost twice that for 5% fewer bytes.
LEVEL = 1
# Far above any payload kenflow writes (the API caps bodies well below Temporal's 2 MB blob limit),
# so a crafted payload sent to the codec endpoint cannot inflate into gigabytes.
MAX_INFLATED = 32 * 1024 * 1024


class ZlibCodec(PayloadCodec, WithSerializationContext):
    """Compresses payloads of THRESHOLD bytes or more, where that makes them smaller."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [compress(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [decompress(p) for p in payloads]

    def with_context(self, context: SerializationContext) -> PayloadCodec:
        """A local activity's input never reaches the server (it stays in the worker, and its
        result is recorded small), so compressing the rows a projection writes would only cost
        CPU on both ends of one process."""
        if isinstance(context, ActivitySerializationContext) and context.is_local:
            return _LOCAL
        return self


class _LocalCodec(ZlibCodec):
    """Leaves what it sends as it is; still reads compressed payloads (from any other worker)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


_LOCAL = _LocalCodec()


def compress(payload: Payload) -> Payload:
    if payload.ByteSize() < THRESHOLD:  # most payloads; cheaper than serializing them to see
        return payload
    raw = payload.SerializeToString()
    packed = zlib.compress(raw, LEVEL)
    if len(packed) >= len(raw):
        return payload
    return Payload(metadata={"encoding": ENCODING}, data=packed)


def decompress(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != ENCODING:
        return payload
    inflater = zlib.decompressobj()
    raw = inflater.decompress(payload.data, MAX_INFLATED)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"binary/zlib payload is truncated or inflates past {MAX_INFLATED} bytes")
    inner = Payload()
    inner.ParseFromString(raw)
    return inner


DATA_CONVERTER: DataConverter = dataclasses.replace(pydantic_data_converter, payload_codec=ZlibCodec())
