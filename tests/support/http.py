"""A fake HTTP endpoint on 127.0.0.1: records every request and answers what its ``respond`` says.

The stand-ins for WeChat's API, Rasa's API, the staff webhook and the notifier's receivers are this one
server with different answers.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Request:
    """One request as the endpoint received it."""

    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlparse(self.target).path

    def query(self, name: str) -> str:
        """The first value of the query parameter ``name`` ("" when absent)."""
        return parse_qs(urlparse(self.target).query).get(name, [""])[0]

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


# an answer: the status, and a body (JSON for a dict or list, as is for bytes, nothing for None)
Answer = tuple[int, Any]


class FakeEndpoint:
    """Serves from creation until ``close`` (or the end of a ``with`` block); ``url`` is its address + ``path``."""

    def __init__(self, respond: Callable[[Request], Answer] | None = None, path: str = ""):
        self.requests: list[Request] = []
        self.respond = respond or (lambda request: (200, None))
        self.lock = threading.RLock()  # for the responders' own state: requests may come in parallel
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                endpoint.requests.append(request)
                status, body = endpoint.respond(request)
                if body is None:
                    payload, kind = b"", None
                elif isinstance(body, bytes):
                    payload, kind = body, "application/octet-stream"
                else:
                    payload, kind = json.dumps(body, ensure_ascii=False).encode(), "application/json"
                self.send_response(status)
                if kind:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + path
        # polled often: shutdown() then returns at once, not after half a second
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
