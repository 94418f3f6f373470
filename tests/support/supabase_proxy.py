"""The gateway in front of PostgREST, as small as it can be: strip `/rest/v1`, forward, answer.

Supabase's gateway routes `<project>/rest/v1/...` to PostgREST's `/...`; supabase-py builds its
URLs that way. Unknown paths get the gateway's 404 and an unreachable upstream its 502, both
as JSON without a PostgREST error code, as Kong answers them.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a killed worker) is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class PrefixProxy:
    def __init__(self, prefix: str, upstream: str) -> None:
        self.prefix = prefix.rstrip("/")
        self.max_body: int | None = None  # a gateway's body limit: larger requests get 413
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> PrefixProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream: http.client.HTTPConnection | None = None  # one per client connection

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Small writes must not wait for the client's delayed ACK (40 ms per call).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                # Headers and body in one write (end_headers() would flush the headers alone).
                self._headers_buffer.append(b"\r\n")
                self.wfile.write(b"".join(self._headers_buffer) + body)
                self._headers_buffer = []

            def _gateway_error(self, status: int, message: str) -> None:
                body = json.dumps({"message": message}).encode()
                self._reply(status, body, [("Content-Type", "application/json")])

            def _forward(self) -> None:
                path = self.path
                if path != proxy.prefix and not path.startswith(
                    (proxy.prefix + "/", proxy.prefix + "?")
                ):
                    self._gateway_error(404, "no Route matched with those values")
                    return
                upstream_path = path[len(proxy.prefix) :] or "/"
                if not upstream_path.startswith("/"):
                    upstream_path = "/" + upstream_path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.max_body is not None and length > proxy.max_body:
                    self._gateway_error(413, "Request Entity Too Large")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                while True:
                    # A kept-alive upstream connection that PostgREST closed while idle fails
                    # before the request is read: retry that once on a fresh connection.
                    reused = self.upstream is not None
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(
                            proxy.upstream_host, proxy.upstream_port, timeout=300
                        )
                    try:
                        self.upstream.request(self.command, upstream_path, body, headers)
                        response = self.upstream.getresponse()
                        data = response.read()
                    except (OSError, http.client.HTTPException):
                        self.upstream.close()
                        self.upstream = None
                        if reused:
                            continue
                        self._gateway_error(
                            502, "An invalid response was received from the upstream server"
                        )
                        return
                    self._reply(response.status, data, response.getheaders())
                    return

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _forward

            def do_OPTIONS(self) -> None:
                self._forward()

        return Handler
