"""A local JSON webhook receiving the notifier's lead notifications."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookSink:
    """Receives lead notifications on 127.0.0.1; answers 503 while ``failing`` > 0. Serves from creation."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.failing = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 200
                if sink.failing > 0:
                    sink.failing -= 1
                    status = 503
                else:
                    sink.received.append(
                        {"body": json.loads(body or b"{}"), "idempotency_key": self.headers.get("Idempotency-Key")}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/leads"
        # polled often: shutdown() then returns at once, not after half a second
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __enter__(self) -> WebhookSink:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
