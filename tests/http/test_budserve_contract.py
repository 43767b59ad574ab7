"""A client that behaves like deployed BudServe instances, held to their contract.

The schema below is written from ../shared/BUDSERVE-CONTRACT.md, not from BudConnect's code:
a value outside the clients' enums, a missing key or a wrong type fails, as it would abort a
deployed client's whole sync.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from typing import Annotated, Any, Literal

import httpx
import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import VERSIONS, InProcess, Server, source_bytes, source_models

INT32_MAX = 2**31 - 1


def _uuid(value: str) -> str:
    uuid.UUID(value)
    return value


def _iso8601(value: str) -> str:
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _offers_models(value: list[str]) -> list[str]:
    if "model" not in value:
        raise ValueError("capabilities must include 'model'")
    return value


UUIDString = Annotated[StrictStr, AfterValidator(_uuid)]
ISODate = Annotated[StrictStr, AfterValidator(_iso8601)]
Modality = Literal[
    "text_input", "text_output", "image_input", "image_output", "audio_input", "audio_output"
]
# What every client version accepts: the c093028 list without completions.
Endpoint = Literal[
    "/v1/chat/completions", "/v1/images/generations", "/v1/audio/transcriptions",
    "/v1/audio/speech", "/v1/embeddings", "/v1/batch", "/v1/responses", "/v1/rerank",
    "/v1/moderations",
]  # fmt: skip


class Strict(BaseModel):
    # Unknown keys are ignored by deployed clients; everything they read is checked strictly.
    model_config = ConfigDict(strict=True, extra="ignore")


class Cost(Strict):
    model_config = ConfigDict(strict=True, extra="allow")
    # JSON has one number type: an integral price (0) arrives as an int, and is a valid float.
    input_cost_per_token: StrictInt | float | None = None
    output_cost_per_token: StrictInt | float | None = None


class Tokens(Strict):
    model_config = ConfigDict(strict=True, extra="allow")
    max_input_tokens: Annotated[StrictInt, Field(ge=-(2**31), le=INT32_MAX)] | None = None


class Model(Strict):
    id: UUIDString
    uri: Annotated[StrictStr, Field(min_length=1)]
    modality: list[Modality]
    endpoints: list[Endpoint]
    # Keys required, values may be null.
    input_cost: Cost | None
    output_cost: Cost | None
    tokens: Tokens | None
    deprecation_date: ISODate | None


class Credential(Strict):
    field: StrictStr
    label: StrictStr
    type: Literal["password", "text", "textarea", "url"]
    required: StrictBool
    description: StrictStr
    order: StrictInt
    dependencies: list[StrictStr] | None = None


class Provider(Strict):
    id: UUIDString
    provider_type: Annotated[StrictStr, Field(min_length=1)]
    name: StrictStr
    description: StrictStr
    icon: StrictStr
    capabilities: Annotated[
        list[Literal["model", "moderation", "local"]], AfterValidator(_offers_models)
    ]
    credentials: list[Credential]
    models: list[Model]  # a null entry fails here, as it would in a deployed client


class Page(Strict):
    total_pages: StrictInt
    items: list[Provider]


def budserve_sync(base_url: str, **params: Any) -> list[dict[str, Any]]:
    """Page 1 at limit=5, then pages 2..total_pages; every page validated, items joined."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        first = client.get("/model/get-compatible-models", params={"limit": 5, "page": 1, **params})
        assert first.status_code == 200
        page = Page.model_validate(first.json())
        items = [p.model_dump() for p in page.items]
        raw = list(first.json()["items"])
        for number in range(2, page.total_pages + 1):
            response = client.get(
                "/model/get-compatible-models", params={"limit": 5, "page": number, **params}
            )
            assert response.status_code == 200, response.text  # page >= 2 must never fail
            Page.model_validate(response.json())
            raw += response.json()["items"]
    assert len(items) <= 5
    return raw


def check_catalogue(items: list[dict[str, Any]], version: str) -> None:
    """The joined sweep is the complete catalogue, each uri once, with valid values."""
    uris = [m["uri"] for p in items for m in p["models"]]
    assert len(uris) == len(set(uris)), "a uri appears twice"
    assert set(uris) == set(source_models(version)), "the catalogue is incomplete"
    keys = [p["provider_type"] for p in items]
    assert len(keys) == len(set(keys))
    for provider in items:
        for model in provider["models"]:
            assert model["provider_id"] == provider["id"]


@pytest.mark.parametrize("version", VERSIONS)
def test_clients_without_engine_get_each_bundled_version_complete_and_valid(
    db: Database, version: str
) -> None:
    # Without engine a client gets the newest version held: a registry holding only this one.
    seed(db, engine="litellm", version=version, raw=source_bytes(version))
    with Server(db.url) as server:
        items = budserve_sync(server.base_url)
        check_catalogue(items, version)
        assert items == budserve_sync(server.base_url, engine="litellm")


@pytest.mark.parametrize("version", VERSIONS)
def test_clients_that_send_engine_get_every_version_complete_and_valid(
    seeded_server: Server, version: str
) -> None:
    items = budserve_sync(seeded_server.base_url, engine="litellm", engine_version=version)
    check_catalogue(items, version)


def test_clients_without_engine_get_the_newest_version_of_every_engine(
    seeded_server: Server,
) -> None:
    items = budserve_sync(seeded_server.base_url)
    check_catalogue(items, VERSIONS[-1])
    assert items == budserve_sync(seeded_server.base_url, engine="litellm")


def test_two_sweeps_of_one_snapshot_are_identical(seeded_server: Server) -> None:
    assert budserve_sync(seeded_server.base_url) == budserve_sync(seeded_server.base_url)


def test_pages_never_shift_and_the_order_is_total(seeded_server: Server) -> None:
    items = budserve_sync(seeded_server.base_url, engine="litellm", engine_version="1.80.17")
    keys = [p["provider_type"] for p in items]
    assert keys == sorted(keys)
    for provider in items:
        uris = [m["uri"] for m in provider["models"]]
        assert uris == sorted(uris)


def test_ids_are_stable_across_an_idempotent_reseed(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    with Server(db.url) as server:
        before = budserve_sync(server.base_url)
    seed(
        db,
        engine="litellm",
        version="1.14.4",
        raw=json.dumps(json.loads(source_bytes("1.14.4")), indent=4).encode(),
    )
    with Server(db.url) as server:
        assert budserve_sync(server.base_url) == before


def test_a_page_served_during_a_reseed_is_all_old_or_all_new(db: Database) -> None:
    old_source = source_bytes("1.14.4")
    changed = json.loads(old_source)
    for entry in changed.values():
        if isinstance(entry.get("input_cost_per_token"), float):
            entry["input_cost_per_token"] *= 2
    new_source = json.dumps(changed).encode()

    seed(db, engine="litellm", version="1.14.4", raw=new_source)
    with Server(db.url) as server:
        new_pages = _all_pages(server.base_url)
        seed(db, engine="litellm", version="1.14.4", raw=old_source)
        time.sleep(1)
        old_pages = _all_pages(server.base_url)
        assert old_pages != new_pages

        stop = threading.Event()

        def reseed_forever() -> None:
            flip = True
            while not stop.is_set():
                seed(db, engine="litellm", version="1.14.4", raw=new_source if flip else old_source)
                flip = not flip

        writer = threading.Thread(target=reseed_forever)
        writer.start()
        seen = set()
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                deadline = time.monotonic() + 6
                while time.monotonic() < deadline:
                    for number in old_pages:
                        body = client.get(
                            "/model/get-compatible-models", params={"limit": 5, "page": number}
                        ).json()
                        items = body["items"]
                        assert items in (old_pages[number], new_pages[number])
                        seen.add("old" if items == old_pages[number] else "new")
        finally:
            stop.set()
            writer.join()
    assert seen == {"old", "new"}, "the re-seeds were never observed: the test proved nothing"


def _all_pages(base_url: str) -> dict[int, list[dict[str, Any]]]:
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            first = client.get("/model/get-compatible-models", params={"limit": 5}).json()
            pages = {1: first["items"]}
            for number in range(2, first["total_pages"] + 1):
                pages[number] = client.get(
                    "/model/get-compatible-models", params={"limit": 5, "page": number}
                ).json()["items"]
            again = client.get("/model/get-compatible-models", params={"limit": 5}).json()
            if again["items"] == first["items"] or time.monotonic() > deadline:
                return pages


def test_a_sweep_that_spans_seeds_is_served_from_one_snapshot(db: Database) -> None:
    """Deployed clients delete whatever a sweep lacks, and send no token to pin a sweep to:
    pages 2.. come from the snapshot the client's page 1 came from, whatever seeds between."""
    small, large = source_bytes("1.14.4"), source_bytes("1.60.9")
    seed(db, engine="litellm", version="1.14.4", raw=small)
    stop = threading.Event()
    seeds = 0

    def reseed_forever() -> None:
        nonlocal seeds
        while not stop.is_set():
            for raw in (large, small):
                seed(db, engine="litellm", version="1.14.4", raw=raw, force=True)
                seeds += 1

    with Server(db.url) as server:
        expected = {
            frozenset(e["litellm_provider"] for e in json.loads(raw).values()
                      if isinstance(e.get("litellm_provider"), str)) - {"one of https://docs.litellm.ai/docs/providers"}
            for raw in (small, large)
        }  # fmt: skip
        writer = threading.Thread(target=reseed_forever)
        writer.start()
        mixed, seen = 0, set()
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                for sweep in range(1000):
                    params: dict[str, Any] = {"limit": 5}
                    if sweep % 2:
                        params["engine"] = "litellm"
                    first = client.get("/model/get-compatible-models", params={**params, "page": 1})
                    body = first.json()
                    items = list(body["items"])
                    for page in range(2, body["total_pages"] + 1):
                        answer = client.get(
                            "/model/get-compatible-models", params={**params, "page": page}
                        ).json()
                        items += answer["items"]
                        mixed += answer["total_items"] != body["total_items"]
                    keys = [item["provider_type"] for item in items]
                    mixed += len(keys) != len(set(keys)) or frozenset(keys) not in expected
                    seen.add(len(keys))
        finally:
            stop.set()
            writer.join()
    assert mixed == 0
    assert len(seen) == 2, "the sweeps never met a seed: the test proved nothing"
    assert seeds > 20


def test_sweep_pins_hold_a_bounded_number_of_bytes_and_pins_per_address(db: Database) -> None:
    """Each pin holds its snapshot: page 1 of every version under many user agents held
    them all (661 MB for 29 versions), outside every cache's bound."""
    versions = ("1.14.4", "1.60.9", "1.65.8", "1.70.4")
    for version in versions:
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    with InProcess(db.url, snapshot_cache_mb=2) as app:
        pins = app.polls.pins
        for agent in range(3):
            for version in versions:
                page = app.get("/model/get-compatible-models", headers={"user-agent": f"a{agent}"},
                               params={"engine": "litellm", "engine_version": version,
                                       "page": 1, "limit": 1})  # fmt: skip
                assert page.status_code == 200
                assert pins.bytes <= 2 * 1024 * 1024 or len(pins) == 1
        last = ("127.0.0.1", "a2", "litellm", versions[-1], 1)
        assert pins.get(last) is not None  # the newest sweep keeps its pin
        assert len(pins) < 3 * len(versions)  # older ones made room

        for agent in range(20):  # one address, many user agents
            params = {"engine": "litellm", "engine_version": "1.14.4", "limit": 1}
            app.get("/model/get-compatible-models", headers={"user-agent": f"b{agent}"},
                    params=params)  # fmt: skip
        assert len(pins) <= pins.per_address
        text = app.get("/metrics").text
        assert f'budconnect_cache_bytes{{cache="sweep-pins"}} {float(pins.bytes)}' in text
