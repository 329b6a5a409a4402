"""The dashboard's web server: the standard library's ``http.server`` in a thread.

No URL names a file. The page and its two assets are a fixed table of package
files; everything else is JSON about the sources given on the command line,
addressed by their index, a run's index and an individual's id (integers). So no
request, ``../`` or absolute path included, can read anything but those sources.
Bound to the loopback interface (the default), requests must also name a
loopback host, so a web page elsewhere cannot read the dashboard through a
rebinding DNS name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from neronet.dashboard.detail import individual_detail
from neronet.dashboard.view import SourceView

ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'"  # matplotlib's SVG carries a <style> element
)


def _asset(name: str) -> bytes:
    return resources.files("neronet.dashboard").joinpath("static", name).read_bytes()


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Dashboard:
    """Serves ``paths`` (runs, studies, experiments) at :attr:`url` until :meth:`close`."""

    def __init__(self, paths: Sequence[Path], host: str = "127.0.0.1", port: int = 0) -> None:
        self.sources = [SourceView(Path(p)) for p in paths]
        self.local_only = is_loopback(host)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def start(self) -> Dashboard:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- answers
    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """The JSON for an API ``path``: (HTTP status, body)."""
        if path == "/api/sources":
            return 200, [{"index": i, "name": str(s.path)} for i, s in enumerate(self.sources)]
        source = _integer(query, "source")
        if source is None or not 0 <= source < len(self.sources):
            return 404, {"error": "no such source; pass ?source=N from /api/sources"}
        if path == "/api/state":
            return 200, self.sources[source].state()
        if path == "/api/individual":
            run, ident = _integer(query, "run"), _integer(query, "id")
            found = (
                None
                if run is None or ident is None
                else self.sources[source].individual(run, ident)
            )
            if found is None:
                return 404, {"error": "no such run or individual"}
            return 200, individual_detail(*found)
        return 404, {"error": "no such page"}


def _integer(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name, [])
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else None


def _handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "neronet-dashboard"

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are not logged: the terminal shows the URL and errors only."""

        def do_GET(self) -> None:
            if dashboard.local_only and not self._local_host():
                self._send(403, b"loopback hosts only; start with --host to share", "text/plain")
                return
            url = urlsplit(self.path)
            if url.path in ASSETS:
                name, kind = ASSETS[url.path]
                self._send(200, _asset(name), kind)
                return
            if not url.path.startswith("/api/"):
                self._send(404, b"not found", "text/plain; charset=utf-8")
                return
            status, body = dashboard.answer(url.path, parse_qs(url.query))
            data = json.dumps(body, allow_nan=False).encode()
            tag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
            if status == 200 and self.headers.get("If-None-Match") == tag:
                self._send(304, b"", None, tag)
                return
            self._send(status, data, "application/json", tag)

        def _local_host(self) -> bool:
            return is_loopback(urlsplit(f"//{self.headers.get('Host') or ''}").hostname or "")

        def _send(self, status: int, body: bytes, kind: str | None, tag: str | None = None) -> None:
            self.send_response(HTTPStatus(status))
            if kind is not None:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", POLICY)
            if tag is not None:
                self.send_header("ETag", tag)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

    return Handler
