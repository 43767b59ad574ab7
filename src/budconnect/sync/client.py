"""The sync client: poll BudConnect and keep one engine version's local copy current.

One poll: with a local copy, ask the change feed with `If-None-Match` (304: nothing to do;
200: apply the delta; 410: fall back); without one, or when a delta does not verify, fetch the
whole catalog. Nothing is applied before its content digest is verified, and a failure of any
kind leaves the local configuration exactly as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, TypeGuard
from urllib.parse import quote

import httpx
import orjson

from budconnect import __version__
from budconnect.api.negotiation import digest_of_etag
from budconnect.domain.records import JSONObject
from budconnect.domain.versions import is_final, validate_version
from budconnect.errors import InvalidIdentifier
from budconnect.sync.files import LocalConfig, exclusive, verified_digest

log = logging.getLogger("budconnect.sync")

MAX_RETRY_AFTER = 3600.0
# Sent with the answers about a yanked version (served by its exact name), saying why.
YANKED = "x-budconnect-yanked"


class _Unanswered(Exception):
    """The server closed the connection without answering the request."""

    def __init__(self, error: httpx.RemoteProtocolError) -> None:
        self.error = error


class SyncFailed(Exception):
    """One poll failed; the local configuration is untouched."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    status: Literal["unchanged", "updated", "failed"]
    method: Literal["not-modified", "changes", "catalog"] | None = None
    digest: str | None = None
    added: int = 0
    removed: int = 0
    changed: int = 0
    error: str | None = None
    retry_after: float | None = None
    # The on-change command failed (or timed out) for the configuration now in place; it is
    # run again at the next poll.
    hook_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed" and self.hook_error is None


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes


DEFAULT_MAX_BODY = 256 * 1024 * 1024


class SyncClient:
    """Keeps `state_dir` equal to one engine version of a BudConnect server."""

    def __init__(
        self,
        server: str,
        engine: str,
        engine_version: str,
        state_dir: Path,
        *,
        deployment: str | None = None,
        timeout: float = 30.0,
        deadline: float = 120.0,
        on_change: str | None = None,
        hook_timeout: float = 120.0,
        max_body: int = DEFAULT_MAX_BODY,
        allow_cross_origin_redirects: bool = False,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        sleep: Callable[[float], bool] | None = None,
        token: str | None = None,
    ) -> None:
        url = httpx.URL(server.rstrip("/"))
        # A user and password in the URL are sent (basic auth), never written: the server's
        # name in logs, errors, state.json and the hook's environment is without them.
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
        self.server = str(url.copy_with(userinfo=b""))
        self.origin = _origin(url)
        self.engine = engine
        self.engine_version = engine_version
        self.state_dir = Path(state_dir)
        # Header-safe: anything but letters, digits, '.', '-' and '_' becomes '_'.
        name = deployment or socket.gethostname()
        self.deployment = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64]
        self.on_change = on_change
        self.hook_timeout = hook_timeout
        # Decompressed bytes one answer may have: a small gzip body can expand without limit.
        self.max_body = max_body
        self.allow_cross_origin_redirects = allow_cross_origin_redirects
        # `timeout` bounds each wait for a byte; this bounds a whole answer, so a server that
        # sends a trickle cannot hold a poll (and the deployment's updates) forever.
        self.deadline = deadline
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._stop = threading.Event()
        # Waits return True when stopped; tests and the CLI share this one clock.
        self._sleep = sleep or self._stop.wait
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={
                **({"authorization": f"Bearer {token}"} if token else {}),
                "user-agent": f"budconnect-sync/{__version__} (deployment={self.deployment}; "
                f"{engine}/{engine_version})",
                "accept": "application/json",
                # Decoded here, within `max_body`, not by httpx (which decodes unbounded).
                "accept-encoding": "gzip",
                # A connection of its own per request, so that `_Deadline` knows the socket
                # to shut down (polls are minutes apart: nothing to keep alive for).
                "connection": "close",
            },
            auth=auth,
            follow_redirects=True,
            event_hooks={"request": [self._check_redirect]},
        )
        self._yanked: str | None = None  # why the version followed is yanked, if it is
        self._feed_refused = False  # this poll's change feed refused the revision held
        self._under_way: _Deadline | None = None  # the request in flight, for `stop`
        self._load()

    def _load(self) -> None:
        """Read the state directory (again: `run` does under the lock, so that a process that
        waited for another one acts on what that one left, not on what it read before)."""
        self.local = LocalConfig.load(self.state_dir)
        state = self.local.state
        failures = state.get("consecutive_failures")
        self.failures = failures if type(failures) is int and failures >= 0 else 0
        # Failures against another server or another version say nothing of this one.
        followed = (state.get("server"), state.get("engine"), state.get("engine_version"))
        if followed != (self.server, self.engine, self.engine_version):
            self.failures = 0

    def _check_redirect(self, request: httpx.Request) -> None:
        if self.allow_cross_origin_redirects or _origin(request.url) == self.origin:
            return
        raise SyncFailed(
            f"{self.server} redirected to {request.url.copy_with(query=None)}, another origin; "
            "not followed (allow it with --allow-cross-origin-redirects)"
        )

    # --- one poll -------------------------------------------------------------------------

    def sync_once(self) -> SyncOutcome:
        """Poll once. Never raises: every failure becomes a failed outcome, recorded in
        state.json, and leaves the local configuration as it was."""
        now = _now()
        self._yanked = None
        try:
            # Under the lock `run` holds: a process refused the lock writes nothing.
            self.local.repair()
            if self.local.files_changed():
                log.warning("the files in %s changed under this client; checking them again",
                            self.state_dir)  # fmt: skip
                self.local.recheck()
            elif self.local.unsettled_once():  # written in the tick they were stamped in
                self.local.recheck()
            outcome = self._poll()
        except Exception as exc:  # any failure is a failed poll, never a crash
            if self._stop.is_set():
                # Stopped mid-poll (SIGTERM): nothing failed, nothing was applied.
                log.info("stopped during a poll of %s; nothing applied", self.server)
                return SyncOutcome("failed", error=f"stopped during a poll of {self.server}")
            # OSError: the local disk (full, read-only, permissions); MemoryError and the like:
            # this process. Like network faults they are retried with backoff; the files in
            # place are still the last good ones.
            if isinstance(exc, SyncFailed):
                message = str(exc)
            elif isinstance(exc, OSError):
                message = f"local files in {self.state_dir} (syncing {self.server}): {exc}"
            else:
                message = f"{type(exc).__name__} while polling {self.server}: {exc}"
            self.failures += 1
            log.warning("sync failed (%d in a row): %s", self.failures, message)
            try:
                self.local.save_state(
                    server=self.server,
                    engine=self.engine,
                    engine_version=self.engine_version,
                    last_attempt=now,
                    last_error={"at": now, "message": message},
                    consecutive_failures=self.failures,
                )
            except OSError as state_error:
                log.warning("could not record the failure in state.json: %s", state_error)
            retry_after = exc.retry_after if isinstance(exc, SyncFailed) else None
            # The configuration in place is still whole: a command owed for it runs now,
            # whether or not the server answers.
            hook_error = self._run_owed_hook()
            return SyncOutcome("failed", error=message, retry_after=retry_after,
                               hook_error=hook_error)  # fmt: skip
        if self.failures:
            log.info("%s answers again, after %d failed polls", self.server, self.failures)
        self.failures = 0
        values: dict[str, Any] = {
            "server": self.server, "engine": self.engine, "engine_version": self.engine_version,
            "digest": self.local.digest, "revision": self.local.catalog and
            self.local.catalog.get("revision"), "last_attempt": now, "last_success": now,
            "consecutive_failures": 0, "method": outcome.method, "last_error": None,
            "yanked": self._yanked,
        }  # fmt: skip
        if self._yanked is not None:  # served by its exact name, withdrawn: time to move
            log.warning("%s %s is yanked on %s (%s): follow another version", self.engine,
                        self.engine_version, self.server, self._yanked)  # fmt: skip
        if outcome.status == "updated":
            values["last_change"] = {
                "at": now, "digest": outcome.digest, "added": outcome.added,
                "removed": outcome.removed, "changed": outcome.changed, "method": outcome.method,
            }  # fmt: skip
            # Until the on-change command has run for this digest, it is owed (recorded
            # before the apply already: see `_apply`).
            values["hook_pending"] = self.local.digest if self.on_change else None
        try:
            self.local.save_state(**values)
        except OSError as exc:
            log.warning("could not record the success in state.json: %s", exc)
        if outcome.status == "updated":
            log.info(
                "applied %s %s from %s (%s): %d models added, %d removed, %d changed; "
                "digest %s",
                self.engine, self.local.catalog and self.local.catalog["engine_version"],
                self.server, outcome.method, outcome.added, outcome.removed, outcome.changed,
                (outcome.digest or "")[:16],
            )  # fmt: skip
        else:
            log.debug("unchanged on %s (digest %s)", self.server, (outcome.digest or "")[:16])
        hook_error = self._run_owed_hook()
        return replace(outcome, hook_error=hook_error) if hook_error else outcome

    def _poll(self) -> SyncOutcome:
        local = self.local.catalog
        revision = local.get("revision") if local else None
        self._feed_refused = False
        if local is not None and _revision(revision):
            outcome = self._via_changes(local, revision)
            if outcome is not None:
                return outcome
        return self._via_catalog(local)

    def _url(self, leaf: str) -> str:
        return (
            f"{self.server}/v1/engines/{quote(self.engine, safe='')}/versions/"
            f"{quote(self.engine_version, safe='')}/{leaf}"
        )

    def _get(self, url: str, **kwargs: Any) -> _Answer:
        """The whole answer to a GET, decoded; one cut short, too slow or too large fails
        before any use. A request the server closed the connection on without answering is
        sent once more: a kept-alive connection may be closed by the server's idle timeout
        just as a poll goes out on it, and a GET is safe to repeat."""
        give_up = time.monotonic() + self.deadline
        kwargs["headers"] = {**kwargs.get("headers", {}), **self._report()}
        try:
            try:
                answer = self._get_once(url, give_up, kwargs)
            except _Unanswered:
                answer = self._get_once(url, give_up, kwargs)
        except _Unanswered as unanswered:
            raise _transport_failure(url, unanswered.error) from None
        if answer.status_code in (200, 304) and YANKED in answer.headers:
            self._yanked = answer.headers[YANKED][:200]
        return answer

    def _get_once(self, url: str, give_up: float, kwargs: dict[str, Any]) -> _Answer:
        deadline = _Deadline(give_up)
        too_slow = SyncFailed(f"GET {url}: the answer took longer than {self.deadline:g} s")
        self._under_way = deadline
        if self._stop.is_set():  # stopped between two requests of one poll
            deadline.fired = True
        try:
            with deadline, contextlib.ExitStack() as stack:
                try:
                    response = stack.enter_context(
                        self.http.stream("GET", url, extensions={"trace": deadline.trace}, **kwargs)
                    )
                except httpx.RemoteProtocolError as exc:  # closed before any answer
                    if deadline.fired:
                        raise too_slow from None
                    raise _Unanswered(exc) from None
                coding = response.headers.get("content-encoding", "").strip().lower()
                if coding not in ("", "identity", "gzip", "x-gzip"):
                    raise SyncFailed(f"GET {url}: unsupported content-encoding {coding!r}")
                # A 304 or 204 has no body, whatever its headers say.
                gzipped = coding in ("gzip", "x-gzip") and response.status_code not in (204, 304)
                body = _BoundedBody(url, self.max_body, gzipped=gzipped)
                for chunk in response.iter_raw():
                    if time.monotonic() > give_up:
                        raise too_slow
                    body.feed(chunk)
                content = body.finish()
        except httpx.HTTPError as exc:
            if deadline.fired:
                raise too_slow from None
            raise _transport_failure(url, exc) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise SyncFailed(
                f"GET {url}: answered {response.status_code}",
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        return _Answer(url, response.status_code, response.headers, content)

    def _report(self) -> dict[str, str]:
        """What this deployment holds, sent with every poll so the registry knows its fleet
        (no extra request): name, what it follows and holds, whether its last apply (and
        on-change command) succeeded."""
        held = self.local.catalog
        state = self.local.state
        failed = self.failures > 0 or state.get("hook_last_error") is not None
        report = {
            "x-budconnect-deployment": self.deployment,
            "x-budconnect-follows": self.engine_version,
        }
        if failed or held is not None:  # before its first apply, it claims neither
            report["x-budconnect-applied"] = "failed" if failed else "ok"
        if held is not None:
            report["x-budconnect-engine-version"] = str(held.get("engine_version", ""))[:64]
            report["x-budconnect-digest"] = str(held.get("digest", ""))[:64]
            if isinstance(held.get("revision"), int):
                report["x-budconnect-revision"] = str(held["revision"])
        return report

    def _check_identity(self, url: str, document: Any) -> None:
        """Refuse an answer about another engine or version than the one this client follows:
        its digest proves only that it is self-consistent, not that it is what was asked."""
        engine, version = document.get("engine"), document.get("engine_version")
        if engine == self.engine and version == self.engine_version:
            return
        if engine == self.engine and self.engine_version == "latest":
            # The name is written to state.json, sent back in headers and handed to the
            # on-change command: only what `latest` can name, a final release, is taken.
            if isinstance(version, str) and _final_version(version):
                return
            raise SyncFailed(
                f"GET {url}: answered with {engine} {str(version)[:80]!r} for latest, which is "
                "not a final release's version; nothing applied"
            )
        raise SyncFailed(
            f"GET {url}: answered with {engine} {version}, not the {self.engine} "
            f"{self.engine_version} this deployment follows; nothing applied"
        )

    def _via_changes(self, local: JSONObject, revision: int) -> SyncOutcome | None:
        """Apply the change feed; None when the whole catalog must be fetched instead."""
        response = self._get(
            self._url("changes"),
            params={"since": revision},
            headers={"if-none-match": f'"{local["digest"]}"'},
        )
        if response.status_code == 304:
            return SyncOutcome("unchanged", "not-modified", local["digest"])
        if 400 <= response.status_code < 500:
            # 410: too old for the kept history, or `latest` moved to another version since.
            # Another refusal of the delta (the revision held is not one the server takes):
            # the catalog is the way back, or names the problem itself. Only a 410 says the
            # revision held is not this registry's (a restore): it lets an older one in.
            self._feed_refused = response.status_code == 410
            log.info("%s has no changes since revision %d (%s: %s); fetching the catalog",
                     self.server, revision, response.status_code, _detail(response))  # fmt: skip
            return None
        if response.status_code != 200:
            raise SyncFailed(
                f"GET {response.url}: answered {response.status_code}: {_detail(response)}"
            )
        try:
            delta = orjson.loads(response.content)
            if not isinstance(delta, dict):
                raise ValueError("not a JSON object")
            self._check_identity(response.url, delta)
            if delta["engine_version"] != local["engine_version"]:
                return None  # `latest` moved to another version: ids differ, start over
            if delta.get("since") != revision or not _revision(delta.get("revision")):
                raise ValueError(f"a delta since {str(delta.get('since'))[:20]}, not {revision}")
            if delta["revision"] < revision:
                raise ValueError(f"revision {delta['revision']} is older than {revision} held")
            if delta["digest"] == local["digest"]:
                # Nothing to apply (a proxy that drops If-None-Match gets this, not a 304).
                return SyncOutcome("unchanged", "changes", local["digest"])
            updated = apply_changes(local, delta)
            verified_digest(updated)
            _check_revision(updated)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.info("change feed of %s did not verify (%s); fetching the catalog",
                     self.server, exc)  # fmt: skip
            return None
        return self._apply(local, updated, "changes")

    def _via_catalog(self, local: JSONObject | None) -> SyncOutcome:
        headers = {"if-none-match": f'"{local["digest"]}"'} if local else {}
        response = self._get(self._url("catalog"), headers=headers)
        if response.status_code == 304 and local is not None:
            return SyncOutcome("unchanged", "not-modified", local["digest"])
        if response.status_code != 200:
            raise SyncFailed(
                f"GET {response.url}: answered {response.status_code}: {_detail(response)}"
            )
        try:
            catalog = orjson.loads(response.content)
            if not isinstance(catalog, dict):
                raise ValueError("not a JSON object")
            self._check_identity(response.url, catalog)
            digest = verified_digest(catalog)
            _check_revision(catalog)
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise SyncFailed(f"GET {response.url}: invalid catalog: {exc}") from None
        etag = digest_of_etag(response.headers.get("etag", ""))
        if etag and etag != digest:
            raise SyncFailed(
                f"GET {response.url}: catalog digest {digest[:16]}... does not match its "
                f"ETag {etag[:16]}..."
            )
        if local is not None and local["digest"] == digest:
            return SyncOutcome("unchanged", "catalog", digest)
        if (
            local is not None
            and not self._feed_refused
            # A revision says something only of the registry that gave it.
            and self.local.state.get("catalog_from") == self.server
            and local.get("engine_version") == catalog["engine_version"]
            and _revision(local.get("revision"))
            and catalog["revision"] < local["revision"]
        ):
            # A version's revision only grows: an older one is a stale cache or a replay,
            # unless the server has just refused the revision held (a registry restored
            # from a backup knows no such revision: its catalog is the way back).
            raise SyncFailed(
                f"GET {response.url}: catalog revision {catalog['revision']} is older than the "
                f"revision {local['revision']} held of {catalog['engine_version']} (a stale "
                "cache or a replayed answer); nothing applied"
            )
        if local is None and self._applied_before(digest):
            return self._restore(catalog)
        return self._apply(local, catalog, "catalog")

    def _applied_before(self, digest: str) -> bool:
        """Whether `digest` is the configuration this client last applied, from this server
        (as state.json records it), though its catalog file is gone or damaged now. The
        digest covers the engine and version it is of."""
        state = self.local.state
        return state.get("digest") == digest and state.get("catalog_from") == self.server

    def _restore(self, catalog: JSONObject) -> SyncOutcome:
        """Put back the files of the configuration already applied: nothing changed for the
        deployment, so no change is recorded and no on-change command is owed (one still owed
        for it runs, as after any poll)."""
        self.local.apply(catalog)  # from the server state.json already names (`_applied_before`)
        log.warning("the catalog in %s was removed or damaged; put back as applied before "
                    "(digest %s), from %s", self.state_dir, catalog["digest"][:16],
                    self.server)  # fmt: skip
        return SyncOutcome("unchanged", "catalog", catalog["digest"])

    def _apply(self, old: JSONObject | None, new: JSONObject, method: Any) -> SyncOutcome:
        added, removed, changed = count_changes(old, new)
        owed = self.local.state.get("hook_pending")
        try:
            if self.on_change:
                # Owed before the files change: a crash right after the apply must not leave
                # a configuration in place that the on-change command never saw.
                self.local.save_state(hook_pending=new["digest"])
            self.local.apply(new)
        except BaseException:
            if self.on_change:
                # Not applied: what was owed for the configuration still in place stays owed.
                with contextlib.suppress(OSError):
                    self.local.save_state(hook_pending=owed)
            raise
        # Which registry the revision held is of (`server` is the last one polled); not
        # recorded, the older-revision check only stands aside.
        with contextlib.suppress(OSError):
            self.local.save_state(catalog_from=self.server)
        return SyncOutcome("updated", method, new["digest"], added, removed, changed)

    # --- the on-change command --------------------------------------------------------------

    def _run_owed_hook(self) -> str | None:
        """Run the on-change command if it is owed for the configuration in place (a change
        was applied, or its last run failed); record the result. Returns its error, if any."""
        pending = self.local.state.get("hook_pending")
        if not self.on_change or pending is None or pending != self.local.digest:
            return None
        error = self._run_hook()
        if error is not None:
            log.warning("%s; it runs again at the next poll", error)
        now = _now()
        values: dict[str, Any] = {"hook_pending": None if error is None else pending}
        if error is None:
            values.update(hook_last_success=now, hook_last_error=None)
        else:
            values["hook_last_error"] = {"at": now, "digest": pending, "message": error}
        try:
            self.local.save_state(**values)
        except OSError as exc:
            log.warning("could not record the on-change result in state.json: %s", exc)
        return error

    def _run_hook(self) -> str | None:
        """Run the on-change command in its own process group, within `hook_timeout`; a stop
        (SIGTERM) ends it too. Returns why it failed, or None."""
        assert self.on_change is not None
        env = {
            **os.environ,
            "BUDCONNECT_SYNC_DIR": str(self.state_dir),
            "BUDCONNECT_SYNC_DIGEST": self.local.digest or "",
            "BUDCONNECT_SYNC_ENGINE": self.engine,
            "BUDCONNECT_SYNC_ENGINE_VERSION": str(
                self.local.catalog["engine_version"] if self.local.catalog else ""
            ),
        }
        try:
            process = subprocess.Popen(self.on_change, shell=True, env=env, start_new_session=True)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command
            return f"on-change command could not start: {exc}"
        deadline = time.monotonic() + self.hook_timeout
        while True:
            try:
                code = process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if self._stop.is_set() or time.monotonic() > deadline:
                    _end_group(process)
                    if self._stop.is_set():
                        return "on-change command stopped: the sync client is shutting down"
                    return f"on-change command timed out after {self.hook_timeout:g} s"
        if code != 0:
            return f"on-change command exited with {code}"
        return None

    # --- polling forever -------------------------------------------------------------------

    def next_delay(self, outcome: SyncOutcome, interval: float) -> float:
        """Seconds until the next poll: jittered interval, or capped backoff after failures."""
        if outcome.status != "failed":
            # +-10% so that a fleet started together drifts apart instead of polling in step.
            return interval * random.uniform(0.9, 1.1)
        exponent = min(max(self.failures - 1, 0), 30)
        ceiling: float = min(self.backoff_cap, self.backoff_base * float(2**exponent))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
        return delay

    def run(self, interval: float, *, once: bool = False) -> SyncOutcome:
        """Poll until `stop()` (or once). Returns the last outcome."""
        with exclusive(self.state_dir):
            self._load()
            self.local.sweep_temporaries()
            if not self.on_change and self.local.state.get("hook_pending") is not None:
                # Owed to a command no longer configured: nobody will run it.
                with contextlib.suppress(OSError):
                    self.local.save_state(hook_pending=None, hook_last_error=None)
            log.info(
                "following %s %s from %s into %s%s",
                self.engine, self.engine_version, self.server, self.state_dir,
                "" if once else f", every {interval:g} s",
            )  # fmt: skip
            while True:
                outcome = self.sync_once()
                if once:
                    return outcome
                if self._sleep(self.next_delay(outcome, interval)):
                    return outcome

    def stop(self) -> None:
        """End `run`: at once between polls, and a request under way is cut short."""
        self._stop.set()
        under_way = self._under_way
        if under_way is not None:
            under_way.fire()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Deadline:
    """Ends a request still under way at `give_up` (monotonic seconds).

    `timeout` bounds each wait for a byte, so a server that trickles its status line and
    headers could hold a poll for as long as it likes; httpx has no bound on a whole answer.
    Each request opens its own connection, whose socket the trace extension hands over; at
    the deadline a timer shuts it down, which wakes the blocked read at once."""

    def __init__(self, give_up: float) -> None:
        self.give_up = give_up
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, give_up - time.monotonic()), self.fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                self._sockets.append(sock)
                if self.fired:  # connected just as the time ran out
                    self._shut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def fire(self) -> None:
        self.fired = True
        for sock in list(self._sockets):
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _BoundedBody:
    """An answer's body, decoded as it arrives, refused as soon as it exceeds `limit` bytes."""

    def __init__(self, url: str, limit: int, *, gzipped: bool) -> None:
        self.url = url
        self.limit = limit
        self.data = bytearray()
        self.fed = False
        self.decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzipped else None

    def feed(self, chunk: bytes) -> None:
        self.fed = self.fed or bool(chunk)
        if self.decoder is None:
            self._keep(chunk)
            return
        try:
            while chunk:
                if self.decoder.eof:
                    # zlib would keep what follows the gzip member aside, unbounded: a body is
                    # one member, and anything after it is refused.
                    raise SyncFailed(f"GET {self.url}: data after the end of the gzip body")
                # Never more than the room left (plus one byte, to notice the excess).
                self._keep(self.decoder.decompress(chunk, self.limit - len(self.data) + 1))
                chunk = self.decoder.unconsumed_tail or self.decoder.unused_data
        except zlib.error as exc:
            raise SyncFailed(f"GET {self.url}: corrupt gzip body: {exc}") from None

    def finish(self) -> bytes:
        if self.decoder is not None and not self.fed:
            return b""  # an empty body, though labelled gzip
        if self.decoder is not None:
            if not self.decoder.eof:
                raise SyncFailed(f"GET {self.url}: gzip body cut short")
            self._keep(self.decoder.flush())
        return bytes(self.data)

    def _keep(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self.limit:
            raise SyncFailed(
                f"GET {self.url}: the answer is larger than {self.limit:,} bytes decoded; "
                "refused (raise the limit with --max-body-mb)"
            )


def _final_version(version: str) -> bool:
    try:
        validate_version(version)
    except InvalidIdentifier:
        return False
    return is_final(version)


# The revisions a server hands out: what a client sends back as `since` (the server takes
# 0 to 2**62).
MAX_REVISION = 2**62


def _revision(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_REVISION


def _check_revision(catalog: JSONObject) -> None:
    """The revision is outside the digest: a catalog whose revision no poll could send back
    would leave the deployment unable to ask for changes."""
    if not _revision(catalog.get("revision")):
        raise ValueError(f"revision {str(catalog.get('revision'))[:40]} is not one of 0..2**62")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate a command and everything it started; kill what does not stop in 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def apply_changes(local: JSONObject, delta: JSONObject) -> JSONObject:
    """The catalog `local` with a change-feed answer applied (removals first, then upserts)."""
    providers: dict[str, JSONObject] = {
        p["id"]: {**p, "models": {m["id"]: m for m in p["models"]}} for p in local["providers"]
    }
    owner = {mid: pid for pid, p in providers.items() for mid in p["models"]}
    for removed in delta["models"]["removed"]:
        pid = owner.pop(removed["id"], None)
        if pid is not None:
            providers[pid]["models"].pop(removed["id"], None)
    for removed in delta["providers"]["removed"]:
        gone = providers.pop(removed["id"], None)
        for mid in gone["models"] if gone else ():
            owner.pop(mid, None)
    for upserted in delta["providers"]["upserted"]:
        existing = providers.get(upserted["id"])
        providers[upserted["id"]] = {**upserted, "models": existing["models"] if existing else {}}
    for model in delta["models"]["upserted"]:
        previous = owner.get(model["id"])
        if previous is not None and previous in providers:
            providers[previous]["models"].pop(model["id"], None)
        providers[model["provider_id"]]["models"][model["id"]] = model  # KeyError: unverifiable
        owner[model["id"]] = model["provider_id"]
    ordered = sorted(providers.values(), key=lambda p: p["provider_type"])
    return {
        **local,
        "digest": delta["digest"],
        "revision": delta["revision"],
        "extras": delta["extras"],
        "provider_count": len(ordered),
        "model_count": sum(len(p["models"]) for p in ordered),
        "providers": [
            {**p, "models": sorted(p["models"].values(), key=lambda m: m["uri"])} for p in ordered
        ],
    }


def count_changes(old: JSONObject | None, new: JSONObject) -> tuple[int, int, int]:
    """(added, removed, changed) models, by key, from one catalog to the next."""
    before = {m["uri"]: m for p in (old or {}).get("providers", []) for m in p["models"]}
    after = {m["uri"]: m for p in new["providers"] for m in p["models"]}
    # Ids are per engine version: a model that only changed version did not change.
    changed = sum(
        1 for uri in before.keys() & after.keys() if _content(before[uri]) != _content(after[uri])
    )
    return len(after.keys() - before.keys()), len(before.keys() - after.keys()), changed


def _content(model: JSONObject) -> JSONObject:
    return {k: v for k, v in model.items() if k not in ("id", "provider_id")}


def _transport_failure(url: str, exc: httpx.HTTPError) -> SyncFailed:
    return SyncFailed(f"GET {url}: {type(exc).__name__}: {exc or 'no detail'}")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isascii() and value.strip().isdigit():  # not '²', which isdigit takes
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds: float = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def _detail(response: _Answer) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.content[:200].decode("utf-8", "replace")
    return str(body.get("detail", body))[:300] if isinstance(body, dict) else str(body)[:200]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
