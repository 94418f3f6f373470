"""The simulator over real HTTP: a threaded stdlib server, in a background thread or in the
foreground (`backfill-console simulate`)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .simulator import Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections as with GitHub
    # TCP_NODELAY: an answer goes out as two writes (headers, then body). With Nagle's
    # algorithm on, the body waits for the client's delayed ACK of the headers, 40 ms on
    # Linux: every answer took 40 ms more than the simulator's own latency (the test suite's
    # 1,000-repository sync round spent ~160 s of its ~200 s there).
    disable_nagle_algorithm = True
    server_version = "github.com"
    sys_version = ""
    sim: Simulator

    def parse_request(self) -> bool:
        # The request's arrival, as early as Python sees it: headers and body are still to be
        # read, and the simulator may be busy with another answer meanwhile.
        self._received = (self.sim.config.clock(), time.perf_counter())
        return super().parse_request()

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.sim.handle(
            self.command, self.path, dict(self.headers.items()), body, self._received
        )
        if response.delay > 0:
            time.sleep(response.delay)
        if response.reset:
            # SO_LINGER 0 makes close() send RST: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        # send_response would add a `Date` from the real clock; the simulator's own is sent.
        self.log_request(response.status)
        self.send_response_only(response.status)
        if "server" not in response.headers:
            self.send_header("server", self.version_string())
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body) + response.pad))
        self.end_headers()
        if response.trickle:  # one byte at a time: a per-read timeout never fires
            for byte in response.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(response.trickle)
        else:
            self.wfile.write(response.body)
        left = response.pad  # a huge answer, generated as it is sent
        while left > 0:
            self.wfile.write(b" " * min(65536, left))
            left -= 65536

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request logs would carry nothing useful and clutter test output."""


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed worker, a timeout) is normal here, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> SimHTTPServer:
    handler = type("SimHandler", (_Handler,), {"sim": sim})
    return SimHTTPServer((host, port), handler)


def base_url(server: SimHTTPServer) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    return f"http://{host}:{port}"


@contextmanager
def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the simulator on a real socket in a background thread; yields its base URL."""
    server = make_server(sim, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="github-sim", daemon=True
    )
    thread.start()
    try:
        yield base_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
