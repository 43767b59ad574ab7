"""A real package index for the tracker's tests: the simple repository API over local wheels.

It serves `/simple/<project>/` in the JSON form (PEP 691, with upload times) or the HTML form
(PEP 503), as the request's Accept header asks and the test allows, and the wheels under
`/files/`. Wheels are built by the test from the bundled model maps, so their hashes are
real. A test can publish a wrong hash, yank a release, make a wheel download stall or
answer 404, compress wheels on the wire (as web servers in front of mirrors do), serve a
project page of its own, ask for a user and password, or stop the index.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAP_MEMBER = "litellm/model_prices_and_context_window_backup.json"


def build_wheel(version: str, model_map: bytes | None) -> bytes:
    """A wheel of the project `litellm` holding `model_map` where LiteLLM ships it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("litellm/__init__.py", f"__version__ = {version!r}\n")
        if model_map is not None:
            wheel.writestr(MAP_MEMBER, model_map)
        info = f"litellm-{version}.dist-info"
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: litellm\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return buffer.getvalue()


@dataclass
class Published:
    version: str
    wheel: bytes
    uploaded: str
    yanked: bool | str = False  # a string is the reason given (PEP 592)
    wrong_hash: bool = False

    @property
    def filename(self) -> str:
        return f"litellm-{self.version}-py3-none-any.whl"

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256(self.wheel).hexdigest()
        return "0" * 64 if self.wrong_hash else digest


@dataclass
class PackageIndex:
    json_form: bool = True
    releases: dict[str, Published] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    stall: set[str] = field(default_factory=set)  # versions whose wheel never finishes
    missing: set[str] = field(default_factory=set)  # versions whose wheel answers 404
    # "accepted": wheels gzipped when the request accepts gzip; "always": whatever it accepts.
    compress: str | None = None
    page: bytes | None = None  # the JSON project page, as given, instead of the real one
    credentials: tuple[str, str] | None = None  # basic auth the index asks for

    def url_with_credentials(self) -> str:
        assert self.credentials is not None
        user, password = self.credentials
        return self.url.replace("http://", f"http://{user}:{password}@", 1)

    def publish(self, version: str, model_map: bytes | None, **kwargs: Any) -> Published:
        day = len(self.releases) + 1
        release = Published(
            version,
            build_wheel(version, model_map),
            f"2026-0{1 + day // 28}-{1 + day % 28:02d}T12:00:00Z",
            **kwargs,
        )
        self.releases[version] = release
        return release

    def __enter__(self) -> PackageIndex:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                if index.credentials is not None:
                    expected = base64.b64encode(":".join(index.credentials).encode()).decode()
                    if self.headers.get("authorization") != f"Basic {expected}":
                        self._send(401, "text/plain", b"who are you?")
                        return
                if self.path.rstrip("/") == "/simple/litellm":
                    self._project_page()
                elif self.path.startswith("/files/"):
                    self._wheel(self.path.removeprefix("/files/"))
                else:
                    self._send(404, "text/plain", b"not found")

            def _project_page(self) -> None:
                if index.page is not None:
                    self._send(200, "application/vnd.pypi.simple.v1+json", index.page)
                    return
                releases = list(index.releases.values())
                if index.json_form and "application/vnd.pypi.simple.v1+json" in self.headers.get(
                    "accept", ""
                ):
                    files = [
                        {
                            "filename": r.filename,
                            "url": f"/files/{r.filename}",
                            "hashes": {"sha256": r.sha256},
                            "upload-time": r.uploaded,
                            "yanked": r.yanked,
                        }
                        for r in releases
                    ]
                    body = json.dumps(
                        {"meta": {"api-version": "1.1"}, "name": "litellm", "files": files}
                    ).encode()
                    self._send(200, "application/vnd.pypi.simple.v1+json", body)
                    return
                links = "".join(
                    f'<a href="../../files/{r.filename}#sha256={r.sha256}"{_yanked(r)}>'
                    f"{r.filename}</a><br>\n"
                    for r in releases
                )
                page = f"<!DOCTYPE html><html><body><h1>litellm</h1>\n{links}</body></html>"
                self._send(200, "text/html", page.encode())

            def _wheel(self, filename: str) -> None:
                found = [r for r in index.releases.values() if r.filename == filename]
                if not found or found[0].version in index.missing:
                    self._send(404, "text/plain", b"no such file")
                    return
                index.downloads.append(found[0].version)
                if found[0].version in index.stall:
                    self.send_response(200)
                    self.send_header("content-length", str(len(found[0].wheel)))
                    self.end_headers()
                    self.wfile.write(found[0].wheel[:100])
                    self.wfile.flush()
                    time.sleep(600)
                    return
                accepts = "gzip" in self.headers.get("accept-encoding", "")
                if index.compress == "always" or (index.compress == "accepted" and accepts):
                    body = gzip.compress(found[0].wheel)
                    self._send(200, "application/octet-stream", body, encoding="gzip")
                    return
                self._send(200, "application/octet-stream", found[0].wheel)

            def _send(
                self, status: int, content_type: str, body: bytes, encoding: str | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                if encoding is not None:
                    self.send_header("content-encoding", encoding)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _yanked(release: Published) -> str:
    """The HTML form's yank attribute: its value is the reason, and it may have none."""
    if isinstance(release.yanked, str):
        return f' data-yanked="{html.escape(release.yanked)}"'
    return " data-yanked" if release.yanked else ""
