"""In-process httpx transports: the simulator without sockets, for fast tests and benchmarks."""

from __future__ import annotations

import asyncio
import time

import httpx

from .simulator import Simulator


def _to_httpx(request: httpx.Request, sim: Simulator, body: bytes):
    path = request.url.raw_path.decode("ascii")  # the query too (GET /_sim/truth?repo=)
    response = sim.handle(request.method, path, dict(request.headers), body)
    if response.trickle or response.pad:
        response.headers["content-length"] = str(len(response.body) + response.pad)
    return response


PAD_CHUNK = 64 * 1024


class _SlowStream(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A trickling (one byte at a time) or padded (huge, generated as read) body."""

    def __init__(self, body: bytes, trickle: float, pad: int) -> None:
        self.body, self.trickle, self.pad = body, trickle, pad

    def _pads(self):
        left = self.pad
        while left > 0:
            yield b" " * min(PAD_CHUNK, left)
            left -= PAD_CHUNK

    async def __aiter__(self):
        if self.trickle:
            for byte in self.body:
                await asyncio.sleep(self.trickle)
                yield bytes([byte])
        else:
            yield self.body
        for chunk in self._pads():
            yield chunk

    def __iter__(self):
        if self.trickle:
            for byte in self.body:
                time.sleep(self.trickle)
                yield bytes([byte])
        else:
            yield self.body
        yield from self._pads()


def _content(response) -> dict:
    if response.trickle or response.pad:
        return {"stream": _SlowStream(response.body, response.trickle, response.pad)}
    return {"content": response.body}


class SimAsyncTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=sim.transport(), base_url="http://github.sim")`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = _to_httpx(request, self.sim, body)
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        if response.reset:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return httpx.Response(
            response.status, headers=response.headers, request=request, **_content(response)
        )


class SimSyncTransport(httpx.BaseTransport):
    """`httpx.Client(transport=sim.sync_transport(), base_url="http://github.sim")`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = _to_httpx(request, self.sim, body)
        if response.delay > 0:
            time.sleep(response.delay)
        if response.reset:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return httpx.Response(
            response.status, headers=response.headers, request=request, **_content(response)
        )
