"""A local stand-in for WeChat's API (token and customer-service messages) on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeChat:
    def __init__(self) -> None:
        self.tokens_issued = 0
        self.sent: list[dict] = []
        self.fail_next_send_with: int | None = None
        self.unavailable_sends = 0  # this many sends get HTTP 503 (WeChat's API failing)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload):
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/cgi-bin/token":
                    with fake.lock:
                        fake.tokens_issued += 1
                        token = f"token-{fake.tokens_issued}"
                    return self._json({"access_token": token, "expires_in": 7200})
                self._json({"errcode": 404, "errmsg": "not found"})

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                token = parse_qs(url.query).get("access_token", [""])[0]
                if url.path == "/cgi-bin/message/custom/send":
                    with fake.lock:
                        if fake.unavailable_sends > 0:
                            fake.unavailable_sends -= 1
                            self.send_response(503)
                            self.send_header("Content-Length", "0")
                            self.end_headers()
                            return None
                        if fake.fail_next_send_with is not None:
                            code, fake.fail_next_send_with = fake.fail_next_send_with, None
                            return self._json({"errcode": code, "errmsg": "invalid credential"})
                        fake.sent.append({**body, "access_token": token})
                    return self._json({"errcode": 0, "errmsg": "ok"})
                self._json({"errcode": 404, "errmsg": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/"
        # polled often: shutdown() then returns at once, not after half a second
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
