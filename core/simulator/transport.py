"""In-process httpx transports: the simulator without sockets, for fast tests and benchmarks."""

from __future__ import annotations

import asyncio
import time

import httpx

from .simulator import Simulator


def _to_httpx(request: httpx.Request, sim: Simulator, body: bytes):
    response = sim.handle(request.method, request.url.path, dict(request.headers), body)
    return response


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
            response.status, headers=response.headers, content=response.body, request=request
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
            response.status, headers=response.headers, content=response.body, request=request
        )
