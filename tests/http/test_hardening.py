"""Odd input and odd conditions: the server neither fails nor answers differently by path."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budconnect.domain.documents import catalog_digest
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.sync import SyncClient
from tests.conftest import POSTGRES_URL, Server, raw_head, source_bytes, source_models
from tests.tcp_proxy import FreezableProxy

ODD_VERSION = "0.0.1+odd"


def odd_file() -> bytes:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    document = {
        "bigint": {"litellm_provider": "openai", "mode": "chat", "foo": 12345678901234567890123},
        "hugecount": {"litellm_provider": "openai", "max_input_tokens": 5_000_000_000},
        "absurd": {"litellm_provider": "openai", "max_input_tokens": 1e30, "rpm": 10**30},
        # Beyond float range as well: no float can hold it.
        "vast": {"litellm_provider": "openai", "max_tokens": 10**400, "mode": "chat"},
        "surrogate-value": {"litellm_provider": "openai", "note": "\ud800x"},
        "longmode": {"litellm_provider": "openai", "mode": "m" * 100},
        "negative": {"litellm_provider": "openai", "max_input_tokens": -3000000000},
        "deep": {"litellm_provider": "openai", "x": deep},
        "ok": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 8192},
    }
    text_ = json.dumps(document)[:-1]
    text_ += ', "inf": {"litellm_provider": "openai", "input_cost_per_token": 1e400}'
    text_ += ', "bad\\ud800key": {"litellm_provider": "openai"}'
    text_ += ', "nul\\u0000key": {"litellm_provider": "openai"}}'
    return text_.encode()


def test_an_odd_file_seeds_and_serves_verifiably_on_both_backends(
    db: Database, tmp_path: Path
) -> None:
    result = seed(db, engine="litellm", version=ODD_VERSION, raw=odd_file(), force=True)
    assert {i.key for i in result.skipped} == {"deep", "bad\\ud800key", "nul\x00key"}
    assert result.models.inserted == 9
    vast = next(i for i in result.repaired if i.key == "vast")
    assert "an integer beyond float range is read as null" in vast.reason
    with Server(db.url) as server:
        base = f"{server.base_url}/v1/engines/litellm/versions/{ODD_VERSION}"
        catalog = httpx.get(f"{base}/catalog").json()
        assert (
            catalog_digest(
                engine="litellm",
                version=ODD_VERSION,
                providers=catalog["providers"],
                extras=catalog["extras"],
            )
            == catalog["digest"]
        )
        models = {m["uri"]: m for p in catalog["providers"] for m in p["models"]}
        assert models["hugecount"]["tokens"] == {"max_input_tokens": 2**31 - 1}
        assert models["negative"]["tokens"] is None
        assert models["absurd"]["tokens"] is None
        assert models["absurd"]["rate_limits"] is None
        assert models["vast"]["tokens"] is None
        assert models["vast"]["source_entry"]["max_tokens"] is None
        assert models["inf"]["input_cost"] is None
        assert models["longmode"]["mode"] is None
        litellm_map = httpx.get(f"{base}/model_prices_and_context_window.json").json()
        assert litellm_map["ok"] == {
            "litellm_provider": "openai",
            "mode": "chat",
            "max_input_tokens": 8192,
        }
        pages = httpx.get(
            f"{server.base_url}/model/get-compatible-models",
            params={"engine": "litellm", "engine_version": ODD_VERSION},
        )
        assert pages.status_code == 200
        with SyncClient(server.base_url, "litellm", ODD_VERSION, tmp_path) as client:
            assert client.sync_once().status == "updated"


# --- the fast path and the routes agree -----------------------------------------------------


def answer(server: Server, path: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    response = httpx.get(server.base_url + path, headers=headers)
    return response.status_code, response.content, response.headers.get("content-type")


@pytest.mark.parametrize(
    "query",
    [
        "engine=&page=1",
        "engine=litellm&page=",
        "engine=litellm&limit=",
        "engine=litellm&page=%EF%BC%91",  # a full-width digit one
        "engine=litellm&page=1&page=2",
        "engine=litellm&limit=101",
        "engine=litellm&bogus=1",
        "page=1&limit=5",
        "engine=litellm&engine_version=1.14.4&page=2",
    ],
)
def test_the_fast_path_answers_compat_queries_as_the_routes_do(
    seeded_server: Server, query: str
) -> None:
    path = f"/model/get-compatible-models?{query}"
    etag = httpx.get(
        f"{seeded_server.base_url}/model/get-compatible-models", params={"engine": "litellm"}
    ).headers["etag"]
    answers = []
    for _ in range(3):  # the first fills the caches; the others may take the fast path
        answers.append(answer(seeded_server, path, {"if-none-match": etag}))
        time.sleep(0.25)
    assert answers[0] == answers[1] == answers[2]


def test_changes_beyond_the_accepted_range_are_refused_on_both_paths(
    seeded_server: Server,
) -> None:
    path = "/v1/engines/litellm/versions/1.14.4/changes?since=99999999999999999999"
    etag = httpx.get(
        f"{seeded_server.base_url}/v1/engines/litellm/versions/1.14.4/catalog"
    ).headers["etag"]
    for _ in range(3):
        assert answer(seeded_server, path, {"if-none-match": etag})[0] == 422
        time.sleep(0.25)


@pytest.mark.parametrize("value", ["gzip;q=abc", "gzip; q=0.5", "*", "br, gzip;q=1.0"])
def test_odd_accept_encodings_are_served_not_failed(seeded_server: Server, value: str) -> None:
    path = "/v1/engines/litellm/versions/1.14.4/catalog"
    for _ in range(3):
        response = httpx.get(seeded_server.base_url + path, headers={"accept-encoding": value})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        time.sleep(0.25)


@pytest.mark.parametrize(
    ("value", "encoding"),
    [("*;q=1, gzip;q=0", None), ("gzip;q=0", None), ("identity, *;q=0.5", "gzip"), ("br", None)],
)
def test_an_explicit_gzip_weight_wins_over_the_wildcard(
    seeded_server: Server, value: str, encoding: str | None
) -> None:
    path = "/v1/engines/litellm/versions/1.14.4/catalog"
    for _ in range(2):  # the route, then the fast path once the body is cached
        response = httpx.get(seeded_server.base_url + path, headers={"accept-encoding": value})
        assert response.status_code == 200
        assert response.headers.get("content-encoding") == encoding
        time.sleep(0.25)


def test_head_is_answered_like_get_without_a_body(seeded_server: Server) -> None:
    for path in (
        "/healthz",
        "/v1/engines/litellm/versions/1.14.4/catalog",
        "/model/get-compatible-models?engine=litellm",
    ):
        got = httpx.get(seeded_server.base_url + path, headers={"accept-encoding": "identity"})
        status, headers, body = raw_head(seeded_server.base_url, path)
        assert status.startswith("HTTP/1.1 200")
        assert body == b""
        assert headers.get("etag") == got.headers.get("etag")
        assert int(headers["content-length"]) == len(got.content)
    status, _, body = raw_head(seeded_server.base_url, "/metrics")  # scrapers may probe
    assert status.startswith("HTTP/1.1 200")
    assert body == b""


def test_an_unknown_name_is_echoed_only_in_part(seeded_server: Server) -> None:
    long_name = "x" * 20_000
    for path in (
        "/model/get-compatible-models",
        f"/v1/engines/{long_name}/versions/latest/catalog",
    ):
        params = {"engine": long_name} if "?" not in path and "compatible" in path else {}
        answer = httpx.get(seeded_server.base_url + path, params=params)
        assert answer.status_code == 404, path
        assert len(answer.content) < 2_000, path
        assert "x" * 100 in answer.json()["detail"]


@pytest.mark.parametrize("form", ["weak", "list", "star"])
def test_if_none_match_in_every_form_answers_304(seeded_server: Server, form: str) -> None:
    url = seeded_server.base_url + "/v1/engines/litellm/versions/1.14.4/catalog"
    etag = httpx.get(url).headers["etag"]
    value = {"weak": f"W/{etag}", "list": f'"other", {etag}', "star": "*"}[form]
    for _ in range(2):
        assert httpx.get(url, headers={"if-none-match": value}).status_code == 304
        time.sleep(0.25)
    assert httpx.get(url, headers={"if-none-match": '"other"'}).status_code == 200


def test_a_blank_diff_version_is_refused(seeded_server: Server) -> None:
    response = httpx.get(
        seeded_server.base_url + "/v1/engines/litellm/diff", params={"from": "", "to": "1.14.4"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "from" in response.json()["detail"]


def test_far_pages_are_answered_but_not_kept(seeded_server: Server) -> None:
    base = f"{seeded_server.base_url}/model/get-compatible-models"
    for page in range(5000, 5100):
        body = httpx.get(base, params={"engine": "litellm", "page": page}).json()
        assert body["items"] == []
        assert body["page"] == page


# --- slow clients -----------------------------------------------------------------------------


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes `sock` (reads return nothing), at most `limit`."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return float("inf")
    return time.monotonic() - started


def test_a_request_head_that_does_not_arrive_in_time_is_dropped(seeded_url: str) -> None:
    with (
        Server(seeded_url, env={"BUDCONNECT_HEADER_TIMEOUT": "1"}) as server,
        contextlib.ExitStack() as sockets,
    ):

        def connect() -> socket.socket:
            return sockets.enter_context(socket.create_connection(("127.0.0.1", server.port)))

        silent, trickle, kept_alive = connect(), connect(), connect()
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        kept_alive.settimeout(5)
        assert kept_alive.recv(4096).startswith(b"HTTP/1.1 200")
        kept_alive.sendall(b"GET /healthz HTTP/1.1\r\n")  # a second request, stalled
        for sock in (silent, trickle, kept_alive):
            assert closed_after(sock, 8) < 4
        # A request that arrives in time is answered as ever.
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",  # a header line without a colon
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    ],
    ids=["request-line", "header-line", "content-length"],
)
def test_a_request_that_is_not_http_gets_a_problem_400_and_is_closed(
    seeded_server: Server, request_bytes: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", seeded_server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after it
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"content-type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["type"] == "urn:budconnect:problem:bad-request"
    assert "not valid HTTP/1.1" in problem["detail"]
    # The server goes on serving.
    assert httpx.get(f"{seeded_server.base_url}/healthz").status_code == 200


def test_a_request_head_too_large_is_answered_431_and_closed(seeded_url: str) -> None:
    """Header lines sent fast enough to beat the header timeout would otherwise be kept
    whole by uvicorn: a few connections could take hundreds of megabytes."""
    with (
        Server(seeded_url, env={"BUDCONNECT_MAX_HEADER_BYTES": "16384"}) as server,
        contextlib.ExitStack() as sockets,
    ):

        def connect() -> socket.socket:
            sock = sockets.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.settimeout(10)
            return sock

        flood = connect()
        flood.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(OSError):  # the server may close while we still send
            for n in range(64):
                flood.sendall(f"X-Pad-{n}: {'a' * 1024}\r\n".encode())
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := flood.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 ")
        assert b"content-type: application/problem+json" in head
        assert json.loads(body)["status"] == 431

        # A head sent whole in one write is measured as well, however the reads fall: one
        # that ends within a read is not let through, and a client still sending when it is
        # refused reads the answer (the close lingers) instead of a reset.
        for size in (20_000, 60_000, 300_000):
            whole = connect()
            whole.sendall(
                f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * size}\r\n\r\n".encode()
            )
            answer = b""
            while chunk := whole.recv(65536):
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 431 "), (size, head)
            assert json.loads(body)["status"] == 431

        # A head under the bound is served, and so is a body of any size after one.
        within = connect()
        pads = "".join(f"X-Pad-{n}: {'a' * 1024}\r\n" for n in range(12))
        body_after = b"x" * 200_000
        within.sendall(
            f"GET /healthz HTTP/1.1\r\nHost: x\r\n{pads}"
            f"Content-Length: {len(body_after)}\r\n\r\n".encode()
            + body_after
        )
        assert one_response(within).startswith(b"HTTP/1.1 200")
        within.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # and it is kept alive
        assert one_response(within).startswith(b"HTTP/1.1 200")


def one_response(sock: socket.socket) -> bytes:
    """One whole response (head and a Content-Length body) read from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n")
         if line.lower().startswith(b"content-length:")),
        0,
    )  # fmt: skip
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


# --- a database outage --------------------------------------------------------------------


def test_a_database_outage_keeps_polls_answered_and_errors_are_503(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    from budconnect.storage.migrate import upgrade

    upgrade(db.engine)
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    db.dispose()
    name = make_url(postgres_url).database
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with Server(postgres_url) as server:
        path = f"{server.base_url}/v1/engines/litellm/versions/1.14.4/catalog"
        etag = httpx.get(path).headers["etag"]
        compat = f"{server.base_url}/model/get-compatible-models"
        # What a deployed BudServe client does first: page 1, with or without engine.
        first_pages = {
            tuple(params): httpx.get(compat, params={"page": 1, **params}).json()
            for params in ({}, {"engine": "litellm"})
        }
        time.sleep(0.5)
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name"
                    ),
                    {"name": name},
                )
            time.sleep(1.5)  # several refresh periods fail
            assert httpx.get(path, headers={"if-none-match": etag}).status_code == 304
            assert httpx.get(path).status_code == 200
            missing = httpx.get(
                f"{server.base_url}/v1/engines/litellm/versions/1.14.4/changes", params={"since": 0}
            )
            assert missing.status_code == 503
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.headers["retry-after"] == "1"
            # The driver's message names the host and database: it goes to the log, not out.
            assert name not in missing.text
            assert "5432" not in missing.text
            not_ready = httpx.get(f"{server.base_url}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["type"] == "urn:budconnect:problem:not-ready"
            assert not_ready.headers["retry-after"] == "1"
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200
            # The rest of the sweep: a failed page 2 would make the client delete its models.
            for params, first in (
                ({}, first_pages[()]),
                ({"engine": "litellm"}, first_pages[("engine",)]),
            ):
                for page in range(2, first["total_pages"] + 1):
                    answer = httpx.get(compat, params={"page": page, **params})
                    assert answer.status_code == 200, (params, page, answer.text)
                    assert answer.json()["items"], (params, page)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.base_url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.1)
    admin.dispose()


# --- a database that hangs ------------------------------------------------------------------


def test_a_hung_database_gets_prompt_503s_and_polls_in_memory_still_answer(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    from budconnect.storage.migrate import upgrade

    upgrade(db.engine)
    for version in ("1.14.4", "1.60.9"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    db.dispose()
    real = make_url(postgres_url)
    with FreezableProxy((real.host or "127.0.0.1", real.port or 5432)) as proxy:
        via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        with Server(via_proxy, env={"BUDCONNECT_DATABASE_WAIT": "3"}) as server:
            cached = f"{server.base_url}/v1/engines/litellm/versions/1.14.4/catalog"
            etag = httpx.get(cached).headers["etag"]
            uncached = f"{server.base_url}/v1/engines/litellm/versions/1.60.9/changes"
            proxy.freeze()
            time.sleep(1.0)  # the background refresh is stuck now too

            started = time.monotonic()
            assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 503
            assert time.monotonic() - started < 2.5

            with ThreadPoolExecutor(30) as pool:
                answers = list(
                    pool.map(
                        lambda since: timed(
                            lambda: httpx.get(uncached, params={"since": since}, timeout=30)
                        ),
                        [0] * 15 + [1] * 15,
                    )
                )
            for seconds, answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "1"
                assert answer.headers["content-type"] == "application/problem+json"
                assert seconds < 6
            # What is in memory is still served, at once.
            started = time.monotonic()
            assert httpx.get(cached, headers={"if-none-match": etag}).status_code == 304
            assert httpx.get(cached).status_code == 200
            assert time.monotonic() - started < 1

            proxy.thaw()
            deadline = time.monotonic() + 20
            while httpx.get(uncached, params={"since": 0}, timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the database woke"
                time.sleep(0.2)


def timed(call: Any) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    answer = call()
    return time.monotonic() - started, answer


# --- clients that leave ------------------------------------------------------------------------


def test_expensive_requests_dropped_by_their_clients_are_not_built(db: Database) -> None:
    for version in ("1.14.4", "1.60.9", "1.65.8", "1.70.4", "1.80.17", "1.100.5"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    versions = ["1.60.9", "1.65.8", "1.70.4", "1.80.17", "1.100.5"]
    pairs = [(a, b) for a in versions for b in versions if a != b]
    with Server(db.url, env={"BUDCONNECT_MAX_CONCURRENT_BUILDS": "2"}) as server:
        httpx.get(f"{server.base_url}/v1/engines/litellm/versions/1.14.4/catalog")  # warm up
        for old, new in pairs:  # each a distinct diff, sent and dropped at once
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(
                    f"GET /v1/engines/litellm/diff?from={old}&to={new} HTTP/1.1\r\n"
                    "Host: x\r\n\r\n".encode()
                )
        started = time.monotonic()
        answer = httpx.get(
            f"{server.base_url}/v1/engines/litellm/diff",
            params={"from": "1.14.4", "to": "1.100.5"},
            timeout=60,
        )
        waited = time.monotonic() - started
        metrics = httpx.get(f"{server.base_url}/metrics").text
    assert answer.status_code == 200
    dropped = _metric(metrics, "budconnect_requests_dropped_total")
    assert dropped >= len(pairs) - 4, metrics  # at most the first few were under way
    assert waited < 10


def test_histories_and_comparisons_dropped_by_their_clients_are_not_built(db: Database) -> None:
    for version in ("1.60.9", "1.70.4", "1.100.5"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    keys = [k for k, v in source_models("1.100.5").items() if isinstance(v, dict)][:40]
    paths = [f"/v1/engines/litellm/models/{key}/history" for key in keys] + [
        f"/catalog/litellm/compare?from={old}&to={new}&shown={shown}"
        for old, new in (("1.60.9", "1.100.5"), ("1.70.4", "1.100.5"))
        for shown in range(10, 20)
    ]
    with Server(db.url, env={"BUDCONNECT_MAX_CONCURRENT_BUILDS": "1"}) as server:
        for path in paths:  # each sent and dropped at once
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(f"GET {quote(path, safe='/?=&')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        started = time.monotonic()
        history = f"{server.base_url}/v1/engines/litellm/models/gpt-4o/history"
        answer = httpx.get(history, timeout=60)
        waited = time.monotonic() - started
        metrics = httpx.get(f"{server.base_url}/metrics").text
    assert answer.status_code == 200
    assert _metric(metrics, "budconnect_requests_dropped_total") >= len(paths) - 4, metrics
    assert waited < 10


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_idle_connections_past_the_limit_make_room_for_requests(seeded_url: str) -> None:
    env = {"BUDCONNECT_MAX_CONNECTIONS": "32", "BUDCONNECT_HEADER_TIMEOUT": "60"}
    with Server(seeded_url, env=env) as server, contextlib.ExitStack() as sockets:
        idle = [
            sockets.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            for _ in range(200)
        ]
        time.sleep(0.5)
        # A client with a request gets its answer although 200 connections sit idle.
        started = time.monotonic()
        for _ in range(5):
            assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        assert time.monotonic() - started < 5
        still_open = 0
        for sock in idle:
            sock.settimeout(0.01)
            try:
                still_open += sock.recv(1) != b""
            except TimeoutError:
                still_open += 1
            except OSError:
                pass
        assert still_open <= 32


def test_the_interactive_documentation_loads_nothing_from_other_hosts(
    seeded_server: Server,
) -> None:
    page = httpx.get(f"{seeded_server.base_url}/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        assert httpx.get(f"{seeded_server.base_url}{asset}").status_code == 200, asset
    assert "/openapi.json" in page.text
