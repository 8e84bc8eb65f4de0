"""A local stand-in for Rasa's HTTP API that records each request line."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "rasa-secret-token-4f1c"


class FakeRasa:
    """Records each raw request line; answers ``status`` with an empty JSON object."""

    def __init__(self, status: int = 200):
        self.status = status
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                fake.paths.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b'{"events": []}'
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # polled often: shutdown() then returns at once, not after half a second
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
