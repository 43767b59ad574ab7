"""Bad input to the web catalog: a helpful HTML page with the status the query API gives the
same question, never a silently unfiltered table; and the filters the API applies, applied.

The expectations come from the query API's answers (the contract the web page shares) and
from the HTTP rules (405 carries `Allow`; HEAD is answered wherever GET is).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest

from budconnect.domain.records import Provenance
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade
from tests.conftest import InProcess, seed_with_a_backport, source_bytes

OLD, BIG = "1.80.17", "1.100.5"
PAGE = f"/catalog/litellm/{BIG}"
MODELS = f"/v1/engines/litellm/versions/{BIG}/models"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('web-input') / 'w.db'}")
    upgrade(db.engine)
    for number, version in enumerate((OLD, BIG)):
        released = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=90 * number)
        provenance = Provenance("index", released, "index", f"litellm-{version}.whl", "0")
        seed(db, engine="litellm", version=version, raw=source_bytes(version),
             provenance=provenance)  # fmt: skip
    db.dispose()
    with InProcess(db.url) as served:
        yield served


class _Page(HTMLParser):
    """What a test reads from a page: the error paragraph, the selected options of each
    select, hidden inputs and links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.error = ""
        self.selected: dict[str, list[str]] = {}
        self.multiple: set[str] = set()
        self.hidden: list[tuple[str, str]] = []
        self.links: list[str] = []
        self._select: str | None = None
        self._in_error = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "p" and "error" in (found.get("class") or ""):
            self._in_error = True
        elif tag == "select":
            self._select = found.get("name") or ""
            if "multiple" in found:
                self.multiple.add(self._select)
        elif tag == "option" and self._select is not None and "selected" in found:
            self.selected.setdefault(self._select, []).append(found.get("value") or "")
        elif tag == "input" and found.get("type") == "hidden":
            self.hidden.append((found.get("name") or "", found.get("value") or ""))
        elif tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "p":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data


def shown(answer: httpx.Response) -> int:
    """How many models a version page says its filters select."""
    assert answer.status_code == 200, answer.text
    found = re.search(r"<p>(\d+) of (\d+) models shown", answer.text)
    assert found is not None
    return int(found.group(1))


def api_total(app: InProcess, query: str) -> int:
    answer = app.get(f"{MODELS}?{query}")
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["total"]
    return total


def refused_as_a_page(answer: httpx.Response, status: int, parameter: str) -> str:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")
    assert "Traceback" not in answer.text
    error = _Page(answer.text).error
    assert parameter in error, error
    return error


# Each: the query string, and the parameter the refusal must name. The API refuses each of
# them too (`page` being unknown to it), with the same status.
REFUSED = [
    ("foo=1", "foo"),
    ("deprecated=maybe", "deprecated"),
    ("sort=bogus", "sort"),
    ("supports_vision=maybe", "supports_vision"),
    ("supports_teleportation=true", "supports_teleportation"),
    ("min_context=abc", "min_context"),
    ("min_context=128000.5", "min_context"),
    ("modality=text", "modality"),
    ("as_of=2025-06-01", "as_of"),
    ("max_input_price=-1", "max_input_price"),
    ("as_of=yesterday", "as_of"),
    ("q=gpt&q=claude", "q"),
    ("min_context=1000&min_context=2000", "min_context"),
    ("page=abc", "page"),
]
# Refused by the API (an empty filter there is a program's unset variable), but what the
# page's own form submits for "any".
BLANK = [("provider=", "provider"), ("mode=", "mode"), ("modality=", "modality"),
         ("min_context=", "min_context")]  # fmt: skip


@pytest.mark.parametrize(("query", "parameter"), BLANK)
def test_a_blank_filter_is_refused_by_the_api_and_means_any_on_the_page(
    app: InProcess, query: str, parameter: str
) -> None:
    api = app.get(f"{MODELS}?{query}")
    assert api.status_code == 422
    assert [e["parameter"] for e in api.json()["errors"]] == [parameter]
    assert shown(app.get(f"{PAGE}?{query}")) == api_total(app, "")


@pytest.mark.parametrize(("query", "parameter"), REFUSED)
def test_bad_filters_are_refused_by_the_page_as_by_the_api(
    app: InProcess, query: str, parameter: str
) -> None:
    api = app.get(f"{MODELS}?{query}")
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/problem+json"
    assert parameter in {e["parameter"] for e in api.json()["errors"]}
    refused_as_a_page(app.get(f"{PAGE}?{query}"), api.status_code, parameter)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=2&page=3", "page"),
        ("page=1e3", "page"),
        ("capability=vision", "capability"),
        ("capability=supports_vision&capability=supports_pdf_input", "capability"),
        ("limit=10", "limit"),  # the API's paging; a page here is 100 rows, chosen by `page`
        ("cursor=abc", "cursor"),
        ("fields=uri", "fields"),
        ("foo=", "foo"),  # unknown whatever its value
    ],
)
def test_the_page_s_own_parameters_are_checked_too(
    app: InProcess, query: str, parameter: str
) -> None:
    refused_as_a_page(app.get(f"{PAGE}?{query}"), 422, parameter)


@pytest.mark.parametrize(
    "query",
    [
        "supports_vision=true",
        "supports_vision=false",
        "mode=chat,embedding",
        "mode=chat&mode=embedding",
        "provider=openai&provider=anthropic",
        "provider=openai,anthropic&supports_function_calling=1",
        "modality=image_input",
        "deprecated=1",
        "deprecated=true&as_of=2025-06-01",
        "min_context=128000&max_output_price=15",
        "q=claude&sort=-key",
    ],
)
def test_filters_the_api_applies_are_applied_by_the_page(app: InProcess, query: str) -> None:
    everything = api_total(app, "")
    expected = api_total(app, query)
    assert expected not in (0, everything), query  # each filter here selects something
    assert shown(app.get(f"{PAGE}?{query}")) == expected


def test_empty_form_fields_mean_no_filter(app: InProcess) -> None:
    # What the page's own form submits when nothing is chosen.
    empty = ("q=&provider=&mode=&capability=&modality=&min_context=&max_input_price="
             "&max_output_price=&deprecated=&sort=key")  # fmt: skip
    assert shown(app.get(f"{PAGE}?{empty}")) == api_total(app, "")
    assert shown(app.get(f"{PAGE}?sort=&page=&q=+")) == api_total(app, "")
    chosen = f"{empty.replace('provider=&', 'provider=openai&')}&page="
    assert shown(app.get(f"{PAGE}?{chosen}")) == api_total(app, "provider=openai")


def test_the_form_and_page_links_keep_every_filter_asked_for(app: InProcess) -> None:
    answer = app.get(f"{PAGE}?provider=openai&provider=azure&supports_vision=false&deprecated=0")
    page = _Page(answer.text)
    assert page.selected["provider"] == ["azure", "openai"]  # in the form's order
    assert "provider" in page.multiple  # so that submitting it again asks for both
    assert page.selected["deprecated"] == ["false"]
    assert ("supports_vision", "false") in page.hidden  # no field for it: kept, and shown
    assert "supports_vision=false" in answer.text
    following = [link for link in page.links if "page=2" in link]
    assert following, "the filters select more than a page"
    again = app.get(following[0].replace("&amp;", "&"))
    assert shown(again) == shown(answer)
    assert "Page 2 of" in again.text


def test_what_the_reader_chooses_in_the_form_wins_over_what_it_kept_hidden(
    app: InProcess,
) -> None:
    """The form carries a flag required false and `as_of` as hidden inputs; choosing that
    flag as the capability, or Deprecated "any", is what the reader asks for now."""
    kept = _Page(app.get(f"{PAGE}?supports_vision=false&deprecated=true&as_of=2025-06-01").text)
    assert ("supports_vision", "false") in kept.hidden
    assert ("as_of", "2025-06-01") in kept.hidden
    submitted = "&".join(f"{name}={value}" for name, value in kept.hidden)

    vision = app.get(f"{PAGE}?capability=supports_vision&deprecated=true&{submitted}")
    assert shown(vision) == api_total(app, "supports_vision=true&deprecated=true&as_of=2025-06-01")
    assert ("supports_vision", "false") not in _Page(vision.text).hidden

    any_deprecated = app.get(f"{PAGE}?deprecated=&{submitted}")
    assert shown(any_deprecated) == api_total(app, "supports_vision=false")
    assert "as_of" not in dict(_Page(any_deprecated.text).hidden)
    # Typed into the address bar, `as_of` without `deprecated` is still the API's 422.
    refused_as_a_page(app.get(f"{PAGE}?as_of=2025-06-01"), 422, "as_of")


def test_a_compare_names_each_version_once(app: InProcess) -> None:
    assert app.get(f"/catalog/litellm/compare?from={OLD}&to={BIG}").status_code == 200
    for query, parameter in (
        (f"from={OLD}&to={BIG}&from={BIG}", "from"),
        (f"from={OLD}&to={BIG}&to={OLD}", "to"),
        (f"from={OLD}&to={BIG}&foo=1", "foo"),
        (f"from={OLD}&to={BIG}&shown=abc", "shown"),
        (f"from=&to={BIG}", "from"),
    ):
        refused_as_a_page(app.get(f"/catalog/litellm/compare?{query}"), 422, parameter)


def test_a_method_not_allowed_is_said_so_with_allow(app: InProcess) -> None:
    answer = app.request("POST", PAGE)
    assert answer.status_code == 405
    assert "GET" in answer.headers["allow"]
    error = refused_as_a_page(answer, 405, "POST")
    assert "not allowed" in error
    assert "no page here" not in error
    api = app.request("DELETE", MODELS)
    assert api.status_code == 405
    assert api.headers["allow"] == "GET, HEAD"  # both answer, so both are named
    assert api.headers["content-type"] == "application/problem+json"
    assert "DELETE" in api.json()["detail"]
    assert "not allowed" in api.json()["detail"]


@pytest.mark.parametrize(
    "path",
    ["/", PAGE, f"{PAGE}?provider=openai", f"/catalog/litellm/compare?from={OLD}&to={BIG}",
     f"{PAGE}/models/gpt-4o"],
)  # fmt: skip
def test_head_is_answered_wherever_get_is(app: InProcess, path: str) -> None:
    got = app.get(path)
    head = app.request("HEAD", path)
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.headers["content-type"] == got.headers["content-type"]
    assert app.request("HEAD", f"{PAGE}?foo=1").status_code == 422  # the same verdicts


def test_an_outage_page_says_when_to_retry_as_the_api_does() -> None:
    # Nothing listens on port 1: every read fails to connect.
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    with InProcess(unreachable, fast_path=False, database_wait=0.5) as down:
        api = down.get(MODELS)
        page = down.get(PAGE)
    assert (api.status_code, page.status_code) == (503, 503)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == api.headers["retry-after"]


def test_a_path_cut_short_leads_to_the_page_above_it(app: InProcess) -> None:
    root = app.get("/catalog")
    assert (root.status_code, root.headers["location"]) == (308, "/")
    engine = app.get("/catalog/litellm")
    assert (engine.status_code, engine.headers["location"]) == (307, PAGE)
    unknown = app.get("/catalog/nope")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "known engines: litellm" in _Page(unknown.text).error
    for cut in (f"{PAGE}/models", f"{PAGE}/models/"):
        models = app.get(cut, params={"q": "gpt"})
        assert (models.status_code, models.headers["location"]) == (308, f"{PAGE}?q=gpt")


def test_a_missing_model_s_page_links_the_keys_it_suggests(app: InProcess) -> None:
    answer = app.get(f"{PAGE}/models/GPT-4o")
    assert answer.status_code == 404
    assert f"{PAGE}/models/gpt-4o" in _Page(answer.text).links
    for link in _Page(answer.text).links:
        if link.startswith(f"{PAGE}/models/"):
            assert app.get(link).status_code == 200, link


def test_the_price_chart_leaves_out_backports_and_runs_forward_in_time(db: Database) -> None:
    """A patch of an older line uploaded after a newer release (LiteLLM does this) would send
    the price line back in time: the chart draws the releases that were the newest when they
    came out; the history table still lists every version."""
    seed_with_a_backport(db)
    with InProcess(db.url) as app:
        page = app.get("/catalog/litellm/1.70.4/models/gpt-4o")
    assert page.status_code == 200
    chart = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    circles = re.findall(r'<circle class="input" cx="([\d.]+)"[^>]*><title>([^ ]+) ', chart)
    assert [version for _, version in circles] == ["1.60.9", "1.65.8", "1.70.4"]
    xs = [float(x) for x, _ in circles]
    assert xs == sorted(xs)
    assert "1.60.10" in page.text[page.text.index('id="history-table"') :]
