"""The query API: filters, search, sorting, cursors and fields; one model; a model's history.

Expectations are computed from the source files themselves, not from BudConnect's code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from budconnect.domain.records import Provenance
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import VERSIONS, InProcess, seed_with_a_backport, source_bytes, source_models

BIG = "1.100.5"
MODELS = f"/v1/engines/litellm/versions/{BIG}/models"
# Release dates for the bundled versions, one a quarter apart, as an index would give them.
RELEASED = {v: dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=90 * i)
            for i, v in enumerate(VERSIONS)}  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('query') / 'q.db'}")
    from budconnect.storage.migrate import upgrade

    upgrade(db.engine)
    for version in VERSIONS:
        provenance = Provenance("index", RELEASED[version], "index", f"litellm-{version}.whl", "0")
        seed(
            db, engine="litellm", version=version, raw=source_bytes(version), provenance=provenance
        )
    db.dispose()
    with InProcess(db.url) as served:
        yield served


def every_page(app: InProcess, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = app.get(MODELS, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert len(items) == body["total"]
            return items


def deprecated_by(text: str, date: dt.date) -> bool:
    year, month, day = (int(part) for part in text[:10].split("-"))  # not always zero-padded
    return dt.date(year, month, day) <= date


def per_million(entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    return (
        float(value) * 1e6
        if isinstance(value, int | float) and not isinstance(value, bool)
        else None
    )


def test_filters_select_what_the_source_file_says(app: InProcess) -> None:
    source = source_models(BIG)
    got = every_page(app, provider="openai", supports_vision="true", min_context=100000,
                     max_input_price="5", limit=100)  # fmt: skip
    expected = {
        key for key, e in source.items()
        if e["litellm_provider"] == "openai" and e.get("supports_vision") is True
        and isinstance(e.get("max_input_tokens"), int) and e["max_input_tokens"] >= 100000
        and (per_million(e, "input_cost_per_token") or 1e9) <= 5
    }  # fmt: skip
    assert expected
    assert {m["uri"] for m in got} == expected


@pytest.mark.parametrize(("written", "plain"), [(".5", "0.5"), ("1e-1", "0.1"), ("2.", "2")])
def test_prices_take_every_way_a_number_input_writes_a_number(
    app: InProcess, written: str, plain: str
) -> None:
    def uris(price: str) -> set[str]:
        return {m["uri"] for m in every_page(app, max_input_price=price, limit=500)}

    assert uris(written) == uris(plain)


def test_search_text_is_read_without_the_spaces_around_it_as_the_web_page_reads_it(
    app: InProcess,
) -> None:
    claude = {m["uri"] for m in every_page(app, q="claude", limit=500)}
    assert claude
    assert {m["uri"] for m in every_page(app, q="  claude ", limit=500)} == claude
    assert len(every_page(app, q=" ", limit=500)) == len(every_page(app, limit=500))
    assert every_page(app, q="claude opus") != every_page(app, q="claude")  # inner ones count
    providers = app.get(MODELS.replace("/models", "/providers"), params={"q": " azure "}).json()
    assert {p["provider_type"] for p in providers["items"]} >= {"azure", "azure_ai"}


def test_search_sort_and_cursor_walk_every_match_once(app: InProcess) -> None:
    got = every_page(app, q="claude", sort="-context", limit=7)
    keys = [m["uri"] for m in got]
    assert len(keys) == len(set(keys))
    assert all("claude" in m["uri"].lower() or "claude" in m["provider_type"] for m in got)
    # Text is found in one field, never across two (whatever joins them).
    for spanning in ("\x00", "\x00openai\x00", "gpt-4o\x00openai", "gpt-4o openai"):
        assert every_page(app, q=spanning) == []
    windows = [(m["tokens"] or {}).get("max_input_tokens") for m in got]
    known = [w for w in windows if w is not None]
    assert known == sorted(known, reverse=True)
    assert windows[: len(known)] == known  # models without a context window come last


def test_fields_and_deprecation_as_of_a_date(app: InProcess) -> None:
    body = app.get(MODELS, params={"fields": "uri,deprecation_date", "deprecated": "true",
                                   "as_of": "2025-06-01", "limit": 500}).json()  # fmt: skip
    assert all(set(m) == {"uri", "deprecation_date"} for m in body["items"])
    expected = {
        key for key, e in source_models(BIG).items()
        if isinstance(e.get("deprecation_date"), str)
        and deprecated_by(e["deprecation_date"], dt.date(2025, 6, 1))
    }  # fmt: skip
    assert {m["uri"] for m in body["items"]} == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"colour": "blue"}, "colour"),
        ({"supports_teleportation": "true"}, "supports_teleportation"),
        ({"supports_vision": "maybe"}, "supports_vision"),
        ({"min_context": "lots"}, "min_context"),
        ({"min_context": "0.5"}, "min_context"),  # tokens are whole
        ({"min_context": "1e5"}, "min_context"),
        ({"modality": "text"}, "modality"),  # six values, all known: `text_input`, ...
        ({"modality": "image_input,video_input"}, "modality"),
        ({"as_of": "2025-01-01"}, "as_of"),  # alone it would filter nothing
        ({"max_input_price": "-1"}, "max_input_price"),
        ({"limit": "1000"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),  # more digits than int() takes
        ({"min_context": "1" + "0" * 400}, "min_context"),  # a float of inf
        ({"limit": "\u00b2"}, "limit"),  # a digit to str.isdigit, not to int()
        ({"sort": "price"}, "sort"),
        ({"sort": "--key"}, "sort"),
        ({"max_input_price": "1e999"}, "max_input_price"),
        ({"max_input_price": "."}, "max_input_price"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "20250101"}, "as_of"),  # fromisoformat would take these two
        ({"as_of": "2025-W01-1"}, "as_of"),
        ({"fields": "uri,secret"}, "fields"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"q": "a", "q ": "b"}, "q "),
    ],
)
def test_bad_query_parameters_get_a_422_naming_them(
    app: InProcess, params: dict[str, str], parameter: str
) -> None:
    answer = app.get(MODELS, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert parameter in [e["parameter"] for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    "path",
    [
        MODELS + "?provider=openai",
        f"/v1/engines/litellm/versions/{BIG}/providers",
        f"/v1/engines/litellm/versions/{BIG}/models/gpt-4o",
        "/v1/engines/litellm/models/gpt-4o/history",
    ],
)
def test_every_query_route_answers_head_as_it_answers_get(app: InProcess, path: str) -> None:
    got, head = app.get(path), app.request("HEAD", path)
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.headers["content-type"] == got.headers["content-type"]


def test_a_cursor_pages_through_one_version_and_one_question(app: InProcess) -> None:
    asked = {"limit": 5, "provider": "openai", "sort": "-context"}
    cursor = app.get(MODELS, params=asked).json()["next_cursor"]
    assert app.get(MODELS, params={**asked, "cursor": cursor, "limit": 7}).status_code == 200
    refusals = [
        # Another version: not "changed", another one.
        (app.get("/v1/engines/litellm/versions/1.70.4/models", params={**asked, "cursor": cursor}),
         "pages through version 1.100.5, not 1.70.4"),
        # Another question would skip into another list without a word.
        (app.get(MODELS, params={**asked, "cursor": cursor, "q": "gpt"}), "another question"),
        (app.get(MODELS, params={**asked, "cursor": cursor, "sort": "context"}),
         "another question"),
        (app.get(f"/v1/engines/litellm/versions/{BIG}/providers", params={"cursor": cursor}),
         "another question"),
    ]  # fmt: skip
    for answer, detail in refusals:
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["parameter"] == "cursor"
        assert detail in answer.json()["errors"][0]["message"]


def test_a_cursor_of_a_version_seeded_again_since_is_outdated(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    models = "/v1/engines/litellm/versions/1.14.4/models"
    with InProcess(db.url, fast_path=False) as app:
        cursor = app.get(models, params={"limit": 5}).json()["next_cursor"]
        document = json.loads(source_bytes("1.14.4"))
        document["gpt-4"]["input_cost_per_token"] = 1.0
        seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
        answer = app.get(models, params={"limit": 5, "cursor": cursor})
    assert answer.status_code == 409, answer.text
    assert "changed since this cursor was given" in answer.json()["detail"]


def test_a_cursor_of_latest_is_outdated_once_latest_moves(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    with InProcess(db.url, fast_path=False) as app:
        cursors = {
            route: app.get(
                f"/v1/engines/litellm/versions/latest/{route}", params={"limit": 5}
            ).json()["next_cursor"]
            for route in ("models", "providers")
        }
        seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
        for route, cursor in cursors.items():
            moved = app.get(f"/v1/engines/litellm/versions/latest/{route}",
                            params={"limit": 5, "cursor": cursor})  # fmt: skip
            assert moved.status_code == 409, moved.text
            assert moved.json()["detail"].startswith("latest is 1.60.9 now, not 1.14.4")
            # Named by its own name, the version it paged is still there, unchanged.
            held = app.get(f"/v1/engines/litellm/versions/1.14.4/{route}",
                           params={"limit": 5, "cursor": cursor})  # fmt: skip
            assert held.status_code == 200, held.text
            # A cursor given for 1.14.4 by name is no cursor of `latest`.
            named = app.get(f"/v1/engines/litellm/versions/1.14.4/{route}",
                            params={"limit": 5}).json()["next_cursor"]  # fmt: skip
            other = app.get(f"/v1/engines/litellm/versions/latest/{route}",
                            params={"limit": 5, "cursor": named})  # fmt: skip
            assert other.status_code == 422, other.text


def test_providers_are_listed_with_their_model_counts(app: InProcess) -> None:
    body = app.get(f"/v1/engines/litellm/versions/{BIG}/providers",
                   params={"limit": 500, "fields": "provider_type,model_count"}).json()  # fmt: skip
    counts: dict[str, int] = {}
    for entry in source_models(BIG).values():
        counts[entry["litellm_provider"]] = counts.get(entry["litellm_provider"], 0) + 1
    assert {p["provider_type"]: p["model_count"] for p in body["items"]} == counts


def test_every_odd_key_of_the_bundled_data_is_addressable(app: InProcess) -> None:
    """Keys with '/', ':', '@', '*', spaces or '%' are addressed as the rest of the path."""
    checked = 0
    for version in VERSIONS:
        for key in source_models(version):
            if not any(c in key for c in "/:@* %?#"):
                continue
            path = f"/v1/engines/litellm/versions/{version}/models/{quote(key, safe='/:@*')}"
            answer = app.get(path)
            assert answer.status_code == 200, (key, answer.text)
            assert answer.json()["model"]["uri"] == key
            checked += 1
    assert checked > 1000
    missing = app.get(f"/v1/engines/litellm/versions/{BIG}/models/gpt-4o-mini-typo")
    assert missing.status_code == 404
    assert "gpt-4o-mini" in missing.json()["similar"]
    # Keys are case-sensitive; one that differs only in case is the first suggestion.
    cased = app.get(f"/v1/engines/litellm/versions/{BIG}/models/GPT-4o")
    assert cased.status_code == 404
    assert cased.json()["similar"][0] == "gpt-4o"
    # A history, at a date or not, and the model's web page suggest keys the same way.
    for path in ("/v1/engines/litellm/models/GPT-4o/history",
                 "/v1/engines/litellm/models/GPT-4o/history?at=2026-01-01",
                 f"/catalog/litellm/{BIG}/models/GPT-4o"):  # fmt: skip
        unknown = app.get(path)
        assert unknown.status_code == 404, path
        assert "similar keys" in unknown.text, path
        assert "gpt-4o" in unknown.text
    history = app.get("/v1/engines/litellm/models/GPT-4o/history").json()
    assert history["similar"][0] == "gpt-4o"
    assert f"similar keys (in {BIG}): gpt-4o" in history["detail"]


def test_a_version_named_another_way_is_refused_naming_its_normal_form(app: InProcess) -> None:
    base = "/v1/engines/litellm/versions"
    for path in (f"{base}/v{BIG}", f"{base}/v{BIG}/catalog", f"{base}/V{BIG}/models"):
        answer = app.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["normal_form"] == BIG
        assert f"in their normal form, '{BIG}'" in answer.json()["detail"]
    assert "normal_form" not in app.get("/v1/engines/litellm/versions/9.9.9").json()


def test_one_model_takes_fields_as_the_list_does_and_nothing_else(app: InProcess) -> None:
    one = f"/v1/engines/litellm/versions/{BIG}/models/gpt-4o"
    chosen = app.get(one, params={"fields": "uri,input_cost"}).json()["model"]
    assert chosen == {"uri": "gpt-4o", "input_cost": app.get(one).json()["model"]["input_cost"]}
    for params in ({"field": "uri"}, {"fields": "uri,secret"}):
        refused = app.get(one, params=params)
        assert refused.status_code == 422, params
        assert refused.headers["content-type"] == "application/problem+json"


def test_the_history_groups_versions_into_spans_and_names_what_changed(app: InProcess) -> None:
    key = "gpt-4o"
    entries = {v: source_models(v).get(key) for v in VERSIONS}
    holding = [v for v in VERSIONS if entries[v] is not None]
    history = app.get(f"/v1/engines/litellm/models/{key}/history").json()
    assert history["version_count"] == len(holding)
    spans = history["spans"]
    assert [v for span in spans for v in span["versions"]] == holding
    # A span starts exactly where the source entry changed.
    starts = [holding[0]] + [b for a, b in itertools.pairwise(holding) if entries[a] != entries[b]]
    assert [span["first"]["engine_version"] for span in spans] == starts
    for span in spans[1:]:
        assert span["changes"], span
        assert any(c["field"].startswith("source_entry") for c in span["changes"])
        assert span["absent_before"] == []  # gpt-4o is in every version since it came
    assert spans[0]["first"]["released_at"] == RELEASED[holding[0]].isoformat()

    # Served as every other body: gzipped when asked, 304 while the registry has not moved.
    url = f"/v1/engines/litellm/models/{key}/history"
    zipped = app.get(url, headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == history
    again = app.get(
        url, headers={"accept-encoding": "gzip", "if-none-match": zipped.headers["etag"]}
    )
    assert again.status_code == 304


def test_a_release_that_dropped_a_model_ends_its_span_and_is_named(
    app: InProcess, tmp_path: Path
) -> None:
    """A key absent from a version between two that hold it: the span after the gap names
    the versions it was absent from, even when its entry is the same as before."""
    key, missing = next(
        (k, b)
        for a, b, c in zip(VERSIONS, VERSIONS[1:], VERSIONS[2:], strict=False)
        for k in source_models(a)
        if k not in source_models(b) and k in source_models(c)
    )
    spans = app.get(f"/v1/engines/litellm/models/{quote(key)}/history").json()["spans"]
    after = next(span for span in spans if span["absent_before"] == [missing])
    assert all(missing not in span["versions"] for span in spans)
    before = spans[spans.index(after) - 1]
    assert VERSIONS.index(before["last"]["engine_version"]) < VERSIONS.index(missing)

    # Back exactly as it was: still another span (no field changed, the gap is the news).
    entry = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06}
    maps = {
        "1.0.0": {"kept": entry, "dropped": entry},
        "1.0.1": {"kept": entry},
        "1.0.2": {"kept": entry, "dropped": entry},
    }
    db = Database(f"sqlite:///{tmp_path / 'gap.db'}")
    from budconnect.storage.migrate import upgrade

    upgrade(db.engine)
    for version, models in maps.items():
        seed(db, engine="litellm", version=version, raw=json.dumps(models).encode(), force=True)
    db.dispose()
    with InProcess(db.url) as small:
        spans = small.get("/v1/engines/litellm/models/dropped/history").json()["spans"]
        kept = small.get("/v1/engines/litellm/models/kept/history").json()["spans"]
    assert [(s["versions"], s["absent_before"], s["changes"]) for s in spans] == [
        (["1.0.0"], [], []),
        (["1.0.2"], ["1.0.1"], []),
    ]
    assert [s["versions"] for s in kept] == [["1.0.0", "1.0.1", "1.0.2"]]


def test_an_entry_that_only_writes_a_number_another_way_says_so(app: InProcess) -> None:
    """groq/whisper-large-v3: `output_cost_per_second` 0 in 1.65.8, 0.0 in 1.70.4. Another
    entry (another span), of the same value: the span says what was rewritten."""
    key = "groq/whisper-large-v3"
    assert source_models("1.65.8")[key]["output_cost_per_second"] == 0
    spans = app.get(f"/v1/engines/litellm/models/{key}/history").json()["spans"]
    rewrite = next(s for s in spans if s["first"]["engine_version"] == "1.70.4")
    assert {"field": "source_entry.output_cost_per_second", "old": 0, "new": 0.0,
            "kind": "rewritten"} in rewrite["changes"]  # fmt: skip
    assert all(span["changes"] for span in spans[1:])


def test_the_entry_at_a_date_is_that_of_the_newest_release_on_or_before_it(
    app: InProcess,
) -> None:
    key = "gpt-4o"
    version = next(v for v in reversed(VERSIONS) if key in source_models(v) and v != VERSIONS[-1])
    date = (RELEASED[version] + dt.timedelta(days=1)).date().isoformat()
    body = app.get(f"/v1/engines/litellm/models/{key}/history", params={"at": date}).json()
    assert body["engine_version"] == version
    assert json.dumps(body["model"]["source_entry"], sort_keys=True) == json.dumps(
        source_models(version)[key], sort_keys=True
    )
    early = app.get(f"/v1/engines/litellm/models/{key}/history", params={"at": "2000-01-01"})
    assert early.status_code == 404
    # Not "unknown model": no release yet, and the first one held is named.
    assert early.json()["type"] == "urn:budconnect:problem:no-release-by-date"
    first = RELEASED[VERSIONS[0]].date().isoformat()
    assert early.json()["first_release"] == first
    assert (
        f"the first release this registry holds (final, not yanked) is {VERSIONS[0]}, index {first}"
        in early.json()["detail"]
    )
    assert app.get("/v1/engines/litellm/models/no-such-model/history").status_code == 404
    assert app.get(f"/v1/engines/litellm/models/{key}/history?at=20250101").status_code == 422


def test_a_key_that_came_later_is_not_its_own_suggestion_at_an_earlier_date(
    app: InProcess,
) -> None:
    key = next(k for k in source_models(BIG) if k not in source_models(VERSIONS[0]))
    date = (RELEASED[VERSIONS[0]] + dt.timedelta(days=1)).date().isoformat()
    answer = app.get(f"/v1/engines/litellm/models/{key}/history", params={"at": date})
    assert answer.status_code == 404
    body = answer.json()
    assert key not in body["similar"]
    assert f"{BIG} has {key!r}" in body["detail"]
    for query in ("", "?at=2026-12-31"):  # an unknown engine is named as such
        nope = app.get(f"/v1/engines/nope/models/{key}/history{query}")
        assert nope.status_code == 404
        assert nope.json()["type"] == "urn:budconnect:problem:unknown-engine"
        assert nope.json()["known_engines"] == ["litellm"]


def test_the_entry_at_a_date_is_of_the_highest_version_released_by_then_not_a_backport(
    db: Database,
) -> None:
    """LiteLLM uploads patches of older lines after newer releases: at a date, the newest
    release is the highest version out by then (what `pip install` gave), as `latest` is."""
    seed_with_a_backport(db)
    history = "/v1/engines/litellm/models/gpt-4o/history"
    with InProcess(db.url) as app:
        after_both = app.get(history, params={"at": "2025-04-15"}).json()
        between = app.get(history, params={"at": "2025-02-15"}).json()
    assert after_both["engine_version"] == "1.65.8"
    assert after_both["model"]["source_entry"] == source_models("1.65.8")["gpt-4o"]
    assert between["engine_version"] == "1.60.9"
