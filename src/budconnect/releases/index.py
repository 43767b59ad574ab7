"""A client of the simple repository API (PEP 503 HTML and PEP 691 JSON) of a package index.

The index is the one pip on this machine is configured with, as pip itself reports it (so
company mirrors and proxies work), unless an URL is given; with none configured, pip's own
default, also asked of pip. No index host name is written here.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

import httpx
import orjson
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

JSON_API = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_API}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
# A yank reason is the index's free text: it is stored, printed and audited, so it is bounded.
MAX_YANK_REASON = 500


class IndexUnavailable(Exception):
    """The index could not be asked, or answered something unusable."""


def public_url(url: str) -> str:
    """`url` as it may be printed, logged or audited: a mirror's user and password (the
    userinfo part) left out."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}{sep}{host}{slash}{path}"


@dataclass(frozen=True, slots=True)
class WheelFile:
    filename: str
    url: str
    sha256: str | None
    yanked: bool
    uploaded_at: dt.datetime | None
    pure: bool  # py3-none-any: the smallest download of a release
    yanked_reason: str | None = None  # as the index gives it (PEP 592), if it gives one


@dataclass(slots=True)
class Release:
    version: str
    wheels: list[WheelFile] = field(default_factory=list)

    @property
    def yanked(self) -> bool:
        """A release is yanked when every one of its files is (PEP 592)."""
        return bool(self.wheels) and all(wheel.yanked for wheel in self.wheels)

    @property
    def yanked_reason(self) -> str | None:
        """Why the index says the release was yanked, if it says (None when not yanked)."""
        if not self.yanked:
            return None
        return next((w.yanked_reason for w in self.wheels if w.yanked_reason), None)

    @property
    def is_prerelease(self) -> bool:
        return Version(self.version).is_prerelease

    def wheel(self) -> WheelFile | None:
        """The wheel to fetch: any will do (the map is the same file in each); a pure-Python
        one first, as platform wheels are 40 MB and more; never a yanked one unless all are."""
        usable = [w for w in self.wheels if not w.yanked] or self.wheels
        return min(usable, key=lambda w: (not w.pure, w.filename), default=None)


def configured_index_url() -> str:
    """The index pip is configured with here (PIP_INDEX_URL, pip.conf, ...), else pip's
    own default, both as pip reports them."""
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IndexUnavailable(f"cannot ask pip for its index: {exc}") from None
    found = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        found[key.strip()] = value.strip().strip("'\"")
    for key in (":env:.index-url", "global.index-url", "install.index-url", "download.index-url"):
        if found.get(key):
            return found[key]
    try:
        default = subprocess.run(
            [
                sys.executable,
                "-c",
                "from pip._internal.models.index import PyPI\nprint(PyPI.simple_url)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise IndexUnavailable(
            f"pip has no index configured and its default is unknown: {exc}"
        ) from None
    if not default:
        raise IndexUnavailable("pip has no index configured and reported no default")
    return default


class SimpleIndex:
    """The releases of one project on a simple-API index."""

    def __init__(self, index_url: str, client: httpx.Client) -> None:
        self.index_url = index_url.rstrip("/") + "/"
        self.client = client

    def project_url(self, project: str) -> str:
        return urljoin(self.index_url, f"{canonicalize_name(project)}/")

    def releases(self, project: str) -> list[Release]:
        """Every release of `project` with at least one wheel, in no particular order."""
        url = self.project_url(project)
        try:
            response = self.client.get(url, headers={"accept": ACCEPT}, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise IndexUnavailable(
                f"GET {public_url(url)}: {type(exc).__name__}: {public_url(str(exc))}"
            ) from None
        if response.status_code != 200:
            raise IndexUnavailable(f"GET {public_url(url)}: answered {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        base = str(response.url)
        try:
            if content_type == JSON_API:
                files = _json_files(response.content, base)
            else:
                files = _html_files(response.text, base)
        except ValueError as exc:  # a link urljoin cannot read (a broken IPv6 host, say)
            raise IndexUnavailable(f"the index's page has a link that is no URL: {exc}") from None
        return _releases(project, files)


def _json_files(body: bytes, base: str) -> list[WheelFile]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IndexUnavailable(f"the index's JSON page is not JSON: {exc}") from None
    items = document.get("files") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise IndexUnavailable("the index's JSON page is not PEP 691: no list of files")
    files = []
    for number, item in enumerate(items):
        # Every field is checked for its type: a page that is JSON but not PEP 691 is one
        # line of error, never a crash half-way through a run.
        if not isinstance(item, dict):
            raise _not_pep_691(number, "is not an object")
        filename, url = item.get("filename"), item.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            raise _not_pep_691(number, "has no filename and url strings")
        hashes = item.get("hashes", {})
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        if not isinstance(hashes, dict) or not isinstance(sha256, str | None):
            raise _not_pep_691(number, "has hashes that are not an object of strings")
        uploaded = item.get("upload-time")
        if not isinstance(uploaded, str | None):
            raise _not_pep_691(number, "has an upload-time that is not a string")
        # PEP 691: false, true, or the reason (a string, which makes it yanked).
        yanked = item.get("yanked", False)
        files.append(
            _file(
                filename,
                urljoin(base, url),
                sha256,
                yanked is not False and yanked is not None,
                uploaded,
                yanked if isinstance(yanked, str) else None,
            )
        )
    return [f for f in files if f is not None]


def _not_pep_691(number: int, problem: str) -> IndexUnavailable:
    return IndexUnavailable(f"the index's JSON page is not PEP 691: file {number} {problem}")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.links.append((self._current, "".join(self._text).strip()))
            self._current = None


def _html_files(page: str, base: str) -> list[WheelFile]:
    parser = _Links()
    parser.feed(page)
    files = []
    for attrs, text in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        name, _, value = fragment.partition("=")
        sha256 = value if name == "sha256" else None
        # The HTML form carries no upload time (that came with the JSON form, PEP 700); its
        # data-yanked attribute is the reason, possibly empty (PEP 592).
        yanked = "data-yanked" in attrs
        files.append(_file(text, url, sha256, yanked, None, attrs.get("data-yanked")))
    return [f for f in files if f is not None]


def _file(
    filename: str,
    url: str,
    sha256: str | None,
    yanked: bool,
    uploaded: str | None,
    yanked_reason: str | None,
) -> WheelFile | None:
    if not filename.endswith(".whl"):
        return None
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return WheelFile(
        filename=filename,
        url=url,
        sha256=sha256.lower() if sha256 else None,
        yanked=yanked,
        uploaded_at=_time(uploaded),
        pure=filename.endswith("-py3-none-any.whl"),
        yanked_reason=_reason(yanked_reason) if yanked else None,
    )


def _reason(text: str | None) -> str | None:
    """The index's yank reason, printable and bounded (it reaches terminals and the audit
    log); None when it gives none."""
    if not text:
        return None
    printable = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return printable[:MAX_YANK_REASON] or None


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _releases(project: str, files: Iterable[WheelFile]) -> list[Release]:
    by_version: dict[str, Release] = {}
    wanted = canonicalize_name(project)
    for wheel in files:
        name, version, _, _ = parse_wheel_filename(wheel.filename)
        if name != wanted:
            continue
        try:
            text = str(Version(str(version)))
        except InvalidVersion:
            continue
        by_version.setdefault(text, Release(text)).wheels.append(wheel)
    return list(by_version.values())
