"""An HTTP proxy on 127.0.0.1 in front of a registry that breaks off blob downloads: it sends the
registry's headers, then `cut_after` bytes of the body, then closes the connection, the way a dropped
network or a restarted node ends a pull. It records each blob request's Range header and the bytes it
passed on, which is how the tests see a pull resume instead of starting again."""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.s3server import free_port


@dataclass
class BlobRequest:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class CuttingProxy:
    upstream: str
    cut_after: int = 0
    cuts_left: int = 0  # how many blob responses to break off; 0 passes everything through
    blobs: list[BlobRequest] = field(default_factory=list)
    address: str = ""

    def start(self) -> CuttingProxy:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(proxy: CuttingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the test reads `proxy.blobs`, not stderr
            pass

        def do_HEAD(self) -> None:
            self.forward()

        def do_GET(self) -> None:
            self.forward()

        def forward(self) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, headers=headers)
            answer = upstream.getresponse()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(key, value)
            body = answer.read() if self.command == "GET" else b""
            if self.command == "GET" and "Content-Length" not in answer.headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            blob = self.command == "GET" and "/blobs/" in self.path and answer.status in (200, 206)
            cut = blob and proxy.cuts_left > 0 and len(body) > proxy.cut_after
            sent = body[: proxy.cut_after] if cut else body
            self.wfile.write(sent)
            self.wfile.flush()
            if blob:
                proxy.blobs.append(BlobRequest(self.path, self.headers.get("Range"), answer.status, len(sent)))
            if cut:
                proxy.cuts_left -= 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            upstream.close()

    return Handler
