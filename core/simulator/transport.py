"""In-process httpx transports: the simulator without sockets, for fast tests and benchmarks.

Like httpx's `MockTransport(handler)`, a transport is given the function that answers a
request (`Simulator.handle`) and knows nothing else of the simulator, so this module and
`simulator.py` do not import each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx

from .responses import SimResponse

# (method, path with its query string, headers, body) -> the answer: `Simulator.handle`.
SimHandler = Callable[[str, str, Mapping[str, str], bytes], SimResponse]

PAD_CHUNK = 64 * 1024


def _answer(handler: SimHandler, request: httpx.Request, body: bytes) -> SimResponse:
    path = request.url.raw_path.decode("ascii")  # the query too (GET /_sim/truth?repo=)
    response = handler(request.method, path, dict(request.headers), body)
    if response.trickle or response.pad:
        response.headers["content-length"] = str(len(response.body) + response.pad)
    return response


class _SlowStream(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A trickling (one byte at a time) or padded (huge, generated as read) body."""

    def __init__(self, body: bytes, trickle: float, pad: int) -> None:
        self.body, self.trickle, self.pad = body, trickle, pad

    def _pads(self) -> Iterator[bytes]:
        left = self.pad
        while left > 0:
            yield b" " * min(PAD_CHUNK, left)
            left -= PAD_CHUNK

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.trickle:
            for byte in self.body:
                await asyncio.sleep(self.trickle)
                yield bytes([byte])
        else:
            yield self.body
        for chunk in self._pads():
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        if self.trickle:
            for byte in self.body:
                time.sleep(self.trickle)
                yield bytes([byte])
        else:
            yield self.body
        yield from self._pads()


def _to_httpx(request: httpx.Request, response: SimResponse) -> httpx.Response:
    """The simulator's answer as httpx's, once its delay is over; a reset drops the
    connection as a real server's would (httpx's ReadError)."""
    if response.reset:
        raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
    content: dict[str, Any] = {"content": response.body}
    if response.trickle or response.pad:
        content = {"stream": _SlowStream(response.body, response.trickle, response.pad)}
    return httpx.Response(response.status, headers=response.headers, request=request, **content)


class SimAsyncTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=sim.transport(), base_url="http://github.sim")`."""

    def __init__(self, handler: SimHandler) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = _answer(self.handler, request, await request.aread())
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        return _to_httpx(request, response)


class SimSyncTransport(httpx.BaseTransport):
    """`httpx.Client(transport=sim.sync_transport(), base_url="http://github.sim")`."""

    def __init__(self, handler: SimHandler) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = _answer(self.handler, request, request.read())
        if response.delay > 0:
            time.sleep(response.delay)
        return _to_httpx(request, response)
