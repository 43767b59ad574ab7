"""Sweep pins, driven directly: pages 2.. of a client's compatible-models sweep come from the
snapshot its page 1 came from, even when page 1 was cut from a snapshot newer than the view
the request began with (a seed committed and the view was read again meanwhile), and never
from the snapshot of the client's earlier sweep."""

from __future__ import annotations

import json
import time

import pytest

from budconnect.api.bodies import BodyCache
from budconnect.api.polls import Polls
from budconnect.api.queries import Poll, PollKind
from budconnect.services.catalog import Catalog, RegistryView
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import source_bytes

CLIENT = ("10.0.0.7", "budserve/1.0")


def _page(
    polls: Polls, engine: str | None, page: int, view: RegistryView | None = None
) -> tuple[list[str], int]:
    answer = polls.answer(
        Poll(PollKind.COMPAT, engine, page=page, limit=5),
        None,
        False,
        block=True,
        view=view,
        client=CLIENT,
    )
    assert answer is not None
    status, _, body = answer
    assert status == 200
    document = json.loads(body)
    return [item["provider_type"] for item in document["items"]], document["total_items"]


def _sweep(
    polls: Polls, engine: str | None, first_view: RegistryView | None = None
) -> tuple[list[str], set[int]]:
    keys, total = _page(polls, engine, 1, first_view)
    totals = {total}
    for page in range(2, -(-total // 5) + 1):
        more, total = _page(polls, engine, page)
        keys += more
        totals.add(total)
    return keys, totals


def _providers(raw: bytes) -> set[str]:
    return {
        e["litellm_provider"]
        for e in json.loads(raw).values()
        if isinstance(e, dict) and isinstance(e.get("litellm_provider"), str)
    } - {"one of https://docs.litellm.ai/docs/providers"}


@pytest.mark.parametrize("engine", ["litellm", None], ids=["engine", "no-engine"])
def test_a_page_one_cut_from_a_snapshot_newer_than_its_view_pins_that_snapshot(
    db: Database, engine: str | None
) -> None:
    small, large = source_bytes("1.14.4"), source_bytes("1.60.9")
    seed(db, engine="litellm", version="1.14.4", raw=small)
    # Pages are never kept (as after evictions), so page 1 is cut when asked for.
    catalog = Catalog(db, check_interval=3600)
    polls = Polls(catalog, BodyCache(max_bytes=1), "no-cache")
    keys, totals = _sweep(polls, engine)  # this client's earlier sweep: the small source
    assert set(keys) == _providers(small)
    assert totals == {len(keys)}

    stale = catalog.view()
    seed(db, engine="litellm", version="1.14.4", raw=large, force=True)
    catalog.refresh()
    # The request began with the view before the seed; its page 1 is cut from the snapshot
    # the catalog resolves now: the large source.
    keys, totals = _sweep(polls, engine, first_view=stale)
    assert len(totals) == 1, f"pages from two snapshots: total_items {sorted(totals)}"
    assert len(keys) == len(set(keys)), "providers duplicated across pages"
    assert set(keys) == _providers(large)


def test_pins_of_old_versions_make_room_before_the_pins_of_the_snapshot_many_sweep(
    db: Database,
) -> None:
    """Over the byte budget, the snapshot the fewest pins hold goes first: two addresses
    pinning page 1 of old versions must not cancel the pins of a fleet sweeping the current
    one (a seed in the middle of those sweeps would then mix their pages)."""
    versions = ("1.14.4", "1.60.9", "1.65.8", "1.70.4")
    for version in versions:
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    catalog = Catalog(db, check_interval=3600)
    current = catalog.snapshot("litellm", "1.70.4")
    # Room for the current snapshot and about one more.
    polls = Polls(catalog, BodyCache(max_bytes=1), "no-cache",
                  sweep_pin_bytes=int(current.size * 1.5))  # fmt: skip

    def page_one(client: tuple[str, str], version: str) -> None:
        poll = Poll(PollKind.COMPAT, "litellm", version, page=1, limit=5)
        assert polls.answer(poll, None, False, block=True, client=client) is not None

    fleet = [(f"10.0.1.{n}", "budserve/1.0") for n in range(50)]
    for client in fleet:
        page_one(client, "1.70.4")
    for address in ("192.0.2.1", "192.0.2.2"):
        for agent in range(4):
            for version in versions[:3]:
                page_one((address, f"agent-{agent}"), version)
    kept = [c for c in fleet if polls.pins.get((*c, "litellm", "1.70.4", 5)) is not None]
    assert len(kept) == len(fleet)
    assert polls.pins.bytes <= int(current.size * 1.5)


def test_expired_pins_make_room_before_any_live_one(db: Database) -> None:
    """A snapshot only finished sweeps hold (clients gone, renamed, upgraded) must not
    outweigh the pin of a sweep under way."""
    for version in ("1.60.9", "1.70.4"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    catalog = Catalog(db, check_interval=3600)
    room = int(catalog.snapshot("litellm", "1.70.4").size * 1.5)
    polls = Polls(catalog, BodyCache(max_bytes=1), "no-cache", sweep_pin_seconds=0.2,
                  sweep_pin_bytes=room)  # fmt: skip

    def page_one(client: tuple[str, str], version: str) -> None:
        poll = Poll(PollKind.COMPAT, "litellm", version, page=1, limit=5)
        assert polls.answer(poll, None, False, block=True, client=client) is not None

    for n in range(50):
        page_one((f"10.0.2.{n}", "budserve/0.9"), "1.60.9")
    time.sleep(0.3)
    live = ("10.0.3.1", "budserve/1.0")
    page_one(live, "1.70.4")
    assert polls.pins.get((*live, "litellm", "1.70.4", 5)) is not None
    assert len(polls.pins) == 1
