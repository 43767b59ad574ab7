"""The web catalog in a real browser: headless Chromium (Debian's), driven by Playwright,
against a real server process. Screenshots of the main pages are saved under
`test-output/screenshots/` (or BUDCONNECT_SCREENSHOTS).

Chromium missing: these tests fail in CI (CI=true) and are skipped elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from budconnect import __version__
from budconnect.domain.records import Provenance
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade
from tests.conftest import IN_CI, VERSIONS, Server, raw_head, source_bytes, source_models

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("BUDCONNECT_SCREENSHOTS", "test-output/screenshots"))
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
EVIL_KEY = f"evil/{EVIL}"
# Segments a browser resolves away in a link's path (`a/../b` is `b`) unless told otherwise.
DOT_KEYS = ("dots/../escape", "dots/./here")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    db = Database(url)
    upgrade(db.engine)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for number, version in enumerate(VERSIONS):
        released = start + dt.timedelta(days=90 * number)
        document = json.loads(source_bytes(version))
        if version == VERSIONS[-1]:
            document[EVIL_KEY] = {"litellm_provider": "openai", "mode": "chat", "note": EVIL,
                                  "input_cost_per_token": 1e-6}  # fmt: skip
            for key in DOT_KEYS:
                document[key] = {"litellm_provider": "openai", "mode": "chat"}
        seed(
            db,
            engine="litellm",
            version=version,
            raw=json.dumps(document).encode(),
            provenance=Provenance("index", released, "index", f"litellm-{version}.whl", "0" * 64),
        )
    db.dispose()
    with Server(url) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.base_url)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    requests: list[str] = []
    opened.on("request", lambda request: requests.append(request.url))
    yield opened
    context.close()
    assert errors == []
    assert all(url.startswith(server.base_url) for url in requests), requests  # nothing else


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_the_engines_page_lists_versions_and_is_usable_by_keyboard(page: Any) -> None:
    page.goto("/")
    assert page.locator("h1").inner_text() == "Engines and their versions"
    rows = page.locator("table tbody tr")
    assert rows.count() == len(VERSIONS)
    assert VERSIONS[-1] in rows.first.inner_text()
    assert "latest" in rows.first.inner_text()
    assert "2025" in page.locator("table").inner_text()  # release dates, from the index
    shot(page, "engines")
    # Keyboard only: the skip link, then the first version's link.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == VERSIONS[-1]:
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/catalog/litellm/{VERSIONS[-1]}")
    assert page.locator("h1").inner_text() == f"LiteLLM {VERSIONS[-1]}"
    assert f"BudConnect {__version__}" in page.locator("footer").inner_text()


def test_search_filter_and_sort_the_models_of_a_version(page: Any) -> None:
    version = VERSIONS[-1]
    page.goto(f"/catalog/litellm/{version}")
    assert page.locator("#models tbody tr").count() == 100  # a page of 100, not 3,400
    page.fill("input[name=q]", "gpt-4o")
    page.select_option("select[name=provider]", "openai")
    page.select_option("select[name=capability]", "supports_vision")
    page.select_option("select[name=sort]", "-input_price")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    rows = page.locator("#models tbody tr")
    expected = {
        k for k, e in source_models(version).items()
        if "gpt-4o" in k.lower() and e["litellm_provider"] == "openai"
        and e.get("supports_vision") is True
    }  # fmt: skip
    assert rows.count() == len(expected)
    keys = [rows.nth(i).locator("th").inner_text().split(" alias")[0] for i in range(rows.count())]
    assert set(keys) == expected
    prices = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
    numbers = [float(p.replace(",", "")) for p in prices if p]
    assert numbers == sorted(numbers, reverse=True)
    shot(page, "version-filtered")


def test_a_model_page_shows_its_fields_source_and_price_history(page: Any) -> None:
    key = "gpt-4o"
    page.goto(f"/catalog/litellm/{VERSIONS[-1]}")
    page.fill("input[name=q]", key)
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()
    page.get_by_role("link", name=key, exact=True).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == key
    assert "litellm_provider" in page.locator("pre").inner_text()
    holding = [v for v in VERSIONS if key in source_models(v)]
    points = page.locator("svg.chart circle.input")
    assert points.count() == len(holding)
    assert "USD per million tokens" in (points.first.locator("title").text_content() or "")
    assert page.locator("#history-table tbody tr").count() >= 1
    page.locator("#history").scroll_into_view_if_needed()
    page.evaluate(
        "window.scrollBy(0, document.querySelector('#history').getBoundingClientRect().top - 8)"
    )
    shot(page, "model")


def test_a_model_page_shows_a_release_it_was_absent_from_and_long_values_whole(
    page: Any, server: Server
) -> None:
    key, missing = next(
        (k, b)
        for a, b, c in zip(VERSIONS, VERSIONS[1:], VERSIONS[2:], strict=False)
        for k in source_models(a)
        if k not in source_models(b) and k in source_models(c)
    )
    newest = next(v for v in reversed(VERSIONS) if key in source_models(v))
    page.goto(f"/catalog/litellm/{newest}/models/{quote(key)}")
    assert f"Absent from {missing}" in page.locator("#history-table").inner_text()
    # The price line breaks over the gap: no step drawn through a release without it.
    assert page.locator("svg.chart polyline.input").count() >= 2

    # The field whose value is longest in the newest version, shown whole.
    models = source_models(VERSIONS[-1])
    served = httpx.get(
        f"{server.base_url}/v1/engines/litellm/versions/{VERSIONS[-1]}/models", timeout=60,
        params={"limit": 500, "q": "vertex"},
    ).json()["items"]  # fmt: skip
    name, value, owner = max(
        ((n, json.dumps(v, separators=(",", ":")), m["uri"]) for m in served for n, v in m.items()
         if n != "source_entry" and not isinstance(v, str)),
        key=lambda found: len(found[1]),
    )  # fmt: skip
    assert len(value) > 120  # longer than the history table shows
    assert owner in models
    page.goto(f"/catalog/litellm/{VERSIONS[-1]}/models/{quote(owner)}")
    row = page.locator("table.fields tr", has=page.locator(f"th:text-is('{name}')"))
    assert json.loads(row.locator("td").inner_text()) == json.loads(value)


def test_keys_with_dot_segments_are_reached_from_their_links(page: Any) -> None:
    for key in DOT_KEYS:
        page.goto(f"/catalog/litellm/{VERSIONS[-1]}?q=dots%2F")
        page.get_by_role("link", name=key, exact=True).click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == key


def test_two_versions_compare_field_by_field(page: Any, server: Server) -> None:
    old, new = VERSIONS[-2], VERSIONS[-1]
    page.goto(f"/catalog/litellm/{new}")
    page.get_by_role("link", name=f"compare with {old}").click()
    page.wait_for_load_state()
    diff = httpx.get(f"{server.base_url}/v1/engines/litellm/diff",
                     params={"from": old, "to": new}, timeout=60).json()  # fmt: skip
    counts = diff["summary"]["models"]
    assert page.locator("#added-count").inner_text().startswith(f"{counts['added']} models")
    assert page.locator("#removed-count").inner_text().startswith(f"{counts['removed']} models")
    assert page.locator("#changed-count").inner_text().startswith(f"{counts['changed']} models")
    assert page.locator("#changed-table tbody tr").count() > 0
    shot(page, "compare")


def test_data_holding_html_and_script_is_shown_not_run(page: Any) -> None:
    version = VERSIONS[-1]
    page.goto(f"/catalog/litellm/{version}?q=evil")
    assert page.locator("#models tbody tr").count() == 1
    assert EVIL in page.locator("#models tbody").inner_text()
    page.locator("#models tbody a").first.click()
    page.wait_for_load_state()
    assert EVIL in page.locator("h1").inner_text()
    assert json.dumps(EVIL)[1:-1] in page.locator("pre").inner_text()  # as JSON writes it
    assert page.evaluate("window.__pwned") is None


def test_errors_are_helpful_pages_with_the_api_s_status(page: Any) -> None:
    answer = page.goto("/catalog/litellm/9.9.9")
    assert answer.status == 404
    assert "9.9.9" in page.locator("p.error").inner_text()
    assert "Traceback" not in page.content()
    answer = page.goto(f"/catalog/litellm/{VERSIONS[-1]}?min_context=lots")
    assert answer.status == 422
    assert "min_context" in page.locator("p.error").inner_text()
    for query, parameter in (("foo=1", "foo"), ("sort=bogus", "sort"), ("page=abc", "page"),
                             ("deprecated=maybe", "deprecated")):  # fmt: skip
        answer = page.goto(f"/catalog/litellm/{VERSIONS[-1]}?{query}")
        assert answer.status == 422, query  # not the table, silently unfiltered
        assert parameter in page.locator("p.error").inner_text()


def test_a_form_applied_again_asks_what_the_url_asked(page: Any, server: Server) -> None:
    version = VERSIONS[-1]
    query = "provider=openai&provider=anthropic&supports_vision=false&sort=-key"
    api = httpx.get(f"{server.base_url}/v1/engines/litellm/versions/{version}/models?{query}",
                    timeout=60).json()  # fmt: skip
    page.goto(f"/catalog/litellm/{version}?{query}")
    said = f"{api['total']} of "
    assert page.locator("h1 + p").inner_text().startswith(said)
    page.select_option("select[name=mode]", "chat")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    chat = httpx.get(f"{server.base_url}/v1/engines/litellm/versions/{version}/models",
                     params=f"{query}&mode=chat", timeout=60).json()  # fmt: skip
    assert chat["total"] not in (0, api["total"])
    assert page.locator("h1 + p").inner_text().startswith(f"{chat['total']} of ")
    assert "supports_vision=false" in page.url


def test_head_of_a_page_is_its_get_without_a_body(server: Server) -> None:
    path = f"/catalog/litellm/{VERSIONS[-1]}?provider=openai"
    got = httpx.get(server.base_url + path, headers={"accept-encoding": "identity"})
    status, headers, body = raw_head(server.base_url, path)
    assert status.startswith("HTTP/1.1 200")
    assert body == b""
    assert headers["content-type"] == got.headers["content-type"]
    assert int(headers["content-length"]) == len(got.content)


def test_pages_fit_a_phone_width_screen(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, base_url=server.base_url)
    phone = context.new_page()
    newest = f"/catalog/litellm/{VERSIONS[-1]}"
    compare = f"/catalog/litellm/compare?from={VERSIONS[0]}&to={VERSIONS[-1]}"
    pages = (("/", "phone-engines"), (newest, "phone-version"),
             (f"{newest}/models/gpt-4o", "phone-model"), (compare, "phone-compare"))  # fmt: skip
    for path, name in pages:
        phone.goto(path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 376, (path, width)  # wide tables scroll inside their own box
        shot(phone, name)
    phone.goto(newest)
    # Keys break anywhere, but the column stays wide enough to read one.
    model_column = phone.evaluate(
        "document.querySelector('tbody th').getBoundingClientRect().width"
    )
    assert model_column >= 140, model_column
    context.close()
