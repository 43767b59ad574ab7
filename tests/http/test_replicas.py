"""The production layout with processes: two replicas on one PostgreSQL database.

Replicas are stateless: they serve identical ETags and bodies, and a version published
through one is served by both within the freshness interval.
"""

from __future__ import annotations

import time

import httpx

from budconnect.domain.tokens import new_token, token_hash
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import Server, source_bytes

TOKEN = new_token()


def test_two_replicas_serve_alike_and_a_publish_reaches_both(postgres_url: str) -> None:
    db = Database(postgres_url)
    from budconnect.storage.migrate import upgrade

    upgrade(db.engine)
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    db.dispose()
    env = {
        "BUDCONNECT_ADMIN_TOKENS": f"ci={token_hash(TOKEN)}",
        "BUDCONNECT_SNAPSHOT_CHECK_INTERVAL": "1",
    }
    with Server(postgres_url, env=env) as one, Server(postgres_url, env=env) as two:
        paths = [
            "/v1/engines/litellm/versions/1.60.9/catalog",
            "/v1/engines/litellm/versions/latest/model_prices_and_context_window.json",
            "/model/get-compatible-models?limit=7&page=2",
        ]
        for path in paths:
            for encoding in ("identity", "gzip"):
                answers = [
                    httpx.get(server.base_url + path, headers={"accept-encoding": encoding})
                    for server in (one, two)
                ]
                assert answers[0].headers["etag"] == answers[1].headers["etag"]
                assert answers[0].content == answers[1].content

        published = httpx.put(
            f"{one.base_url}/v1/engines/litellm/versions/1.65.8/source",
            content=source_bytes("1.65.8"),
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            timeout=60,
        )
        assert published.status_code == 201, published.text
        digest = published.json()["digest"]
        started = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < 2:
            for name, server in (("one", one), ("two", two)):
                latest = httpx.get(f"{server.base_url}/v1/engines/litellm/versions/latest/catalog",
                                   headers={"accept-encoding": "identity"})  # fmt: skip
                if name not in seen and latest.headers["etag"] == f'"{digest}"':
                    seen[name] = time.monotonic() - started
            assert time.monotonic() - started < 10, seen
            time.sleep(0.05)
        # The publishing replica answers at once; the other within about one interval.
        assert seen["two"] < 3.5, seen
