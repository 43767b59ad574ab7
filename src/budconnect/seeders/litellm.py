"""Parser of LiteLLM's model map (`model_prices_and_context_window.json`): bytes in, records out.

LiteLLM's file is not a schema but a moving target, so this parser keeps every model it can:
fields come and go across releases, numbers are ints or floats (or strings), some top-level
entries are documentation (`sample_spec`) or metadata (`fallback_generalizations`), an entry
may be a pointer (a string naming another entry), a key can appear twice in the raw text, and
dates are not always zero-padded. Each entry is skipped or repaired on its own, with a reason;
only a file that is not a JSON object is refused as a whole.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import orjson

from budconnect.domain.documents import MODALITIES
from budconnect.domain.records import EntryIssue, JSONObject, ModelRecord, ParsedCatalog
from budconnect.errors import InvalidSourceFile
from budconnect.seeders import members
from budconnect.seeders.format import EngineFormat
from budconnect.seeders.metadata import ProviderDirectory, bundled_directory

# Endpoints every deployed BudServe client accepts. `/v1/completions` is not among them, and
# LiteLLM serves text-completion models through its chat route, so it is read as that route.
ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/audio/transcriptions",
    "/v1/audio/speech",
    "/v1/batch",
    "/v1/rerank",
    "/v1/moderations",
)
_ENDPOINT_ALIASES = {"/v1/completions": "/v1/chat/completions"}

_CHAT = "/v1/chat/completions"
_TEXT = frozenset({"text_input"}), frozenset({"text_output"})

# mode -> (input modalities, output modalities, endpoints); used when the entry lists none.
_MODE_DEFAULTS: dict[str, tuple[frozenset[str], frozenset[str], tuple[str, ...]]] = {
    "chat": (*_TEXT, (_CHAT,)),
    "completion": (*_TEXT, (_CHAT,)),
    "responses": (*_TEXT, ("/v1/responses",)),
    "embedding": (*_TEXT, ("/v1/embeddings",)),
    "moderation": (*_TEXT, ("/v1/moderations",)),
    "moderations": (*_TEXT, ("/v1/moderations",)),
    "rerank": (*_TEXT, ("/v1/rerank",)),
    "search": (*_TEXT, ()),
    "vector_store": (*_TEXT, ()),  # a search API: a text query in, matching text out
    "guardrail": (*_TEXT, ()),
    "evaluation": (*_TEXT, ()),
    "image_generation": (
        frozenset({"text_input"}),
        frozenset({"image_output"}),
        ("/v1/images/generations",),
    ),
    "image_edit": (frozenset({"text_input", "image_input"}), frozenset({"image_output"}), ()),
    "audio_transcription": (
        frozenset({"audio_input"}),
        frozenset({"text_output"}),
        ("/v1/audio/transcriptions",),
    ),
    "audio_speech": (frozenset({"text_input"}), frozenset({"audio_output"}), ("/v1/audio/speech",)),
    "realtime": (
        frozenset({"text_input", "audio_input"}),
        frozenset({"text_output", "audio_output"}),
        (),
    ),
    "ocr": (frozenset({"image_input"}), frozenset({"text_output"}), ()),
    # Video is not a modality deployed clients know; the text prompt is all that can be said.
    "video_generation": (frozenset({"text_input"}), frozenset(), ()),
}
_NO_DEFAULTS: tuple[frozenset[str], frozenset[str], tuple[str, ...]] = (
    frozenset(),
    frozenset(),
    (),
)

_INPUT_MODALITIES = {"text": "text_input", "image": "image_input", "audio": "audio_input"}
_OUTPUT_MODALITIES = {
    "text": "text_output",
    "code": "text_output",
    "image": "image_output",
    "audio": "audio_output",
}
_INPUT_FLAGS = {
    "supports_vision": "image_input",
    "supports_image_input": "image_input",
    "supports_embedding_image_input": "image_input",
    "supports_audio_input": "audio_input",
}
_OUTPUT_FLAGS = {"supports_audio_output": "audio_output"}

_PROVIDER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DATE = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]*(?:Z|[+-]\d{2}:?\d{2})?)?\s*")
_INT32_MAX = 2**31 - 1
_MAX_KEY_LENGTH = 512
_MAX_MODE_LENGTH = 64
_MAX_DEPTH = 64
_HUGE_EXPONENT = re.compile(r"[0-9][eE]\+?[0-9]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INT64 = (-(2**63), 2**63 - 1)
_MAX_ALIAS_HOPS = 64


def parse(
    raw: bytes, directory: ProviderDirectory | None = None, *, previous: ParsedCatalog | None = None
) -> ParsedCatalog:
    """Parse one LiteLLM model map. Raises InvalidSourceFile only for a file unusable as a whole.

    With `previous` (the parse of another map, typically the release before), the models whose
    entries are the same text in both files are taken from it instead of being decoded and
    parsed again: a map that differs from the previous one in a few models costs about what
    changed. The result is the same as without `previous`.
    """
    directory = directory if directory is not None else bundled_directory("litellm")
    decoded = _decode(raw, previous)
    document = decoded.members
    duplicate_keys = decoded.repeats
    nested_duplicates = decoded.nested
    non_finite = decoded.non_finite
    # 1e400 decodes to inf without passing parse_constant; such exponents are rare enough
    # that one scan of the text decides whether entries need walking at all.
    huge_numbers = _HUGE_EXPONENT.search(decoded.decoded_text) is not None
    issues: list[EntryIssue] = []

    entries: dict[str, JSONObject] = {}
    # key -> the key it names: alias rows ({"alias_of": ...}) and pointer strings.
    names: dict[str, str] = {}
    alias_rows: dict[str, JSONObject] = {}
    # Every top-level entry not served as a model, kept for the engine's own format.
    extras: JSONObject = {}
    # Models whose entry is the same text as one `previous` parsed without any issue.
    models: dict[str, ModelRecord] = dict(decoded.reused)
    for key, value in document.items():
        if key in duplicate_keys:
            issues.append(
                EntryIssue(
                    key,
                    "repaired",
                    (
                        f"key appears {duplicate_keys[key]} times in the file; the last "
                        "occurrence is kept, as LiteLLM's own loader does"
                    ),
                )
            )
        reason = _key_problem(key)
        if reason is None and isinstance(value, str):
            names[key] = value
            _kept_as_extra(key, value, extras, "pointer")  # the map serves the string back
            continue
        if reason is None and _is_alias_row(value):
            target = value["alias_of"]
            if isinstance(target, str):
                names[key] = target
                alias_rows[key] = value
                continue
            reason = f"alias_of {target!r} is not a model key"
        reason = reason or _not_a_model(key, value)
        if reason:
            issues.append(EntryIssue(key, "skipped", _kept_as_extra(key, value, extras, reason)))
            continue
        entries[key] = value

    # Objects with a repeated field below the entry's own level (rare): found by walking.
    deep = set(nested_duplicates) - {id(entry) for entry in entries.values()}
    for key in sorted(entries):
        entry = entries[key]
        notes: list[str] = []
        repeated = set(nested_duplicates[id(entry)][1]) if id(entry) in nested_duplicates else set()
        if deep:
            repeated |= _repeated_below(entry, nested_duplicates, deep)
        if repeated:
            notes.append(
                "fields appear twice: " + ", ".join(sorted(_printable(n) for n in repeated))
                + "; the last occurrence is kept"
            )  # fmt: skip
        if (non_finite or huge_numbers) and _scrub_non_finite(entry):
            notes.append("NaN or Infinity (or a number beyond float range) read as null")
        problem = _unstorable(entry, notes)
        if problem:
            issues.append(EntryIssue(key, "skipped", problem))
            continue
        models[key] = _model(key, entry, notes)
        if notes:
            issues.append(EntryIssue(key, "repaired", "; ".join(notes)))

    # Aliases and pointers are served as models of their own, with the fields of the model
    # they resolve to (through chains of aliases), as LiteLLM's loader resolves them.
    for key, target in names.items():
        resolved, reason = _resolve(key, names, models)
        if resolved is None:
            if key in alias_rows:
                reason = _kept_as_extra(key, alias_rows[key], extras, reason)
            issues.append(EntryIssue(key, "skipped", reason))
            continue
        record = _model(key, resolved.source_entry, [])
        record.alias_of = target
        if key in alias_rows:
            record.source_entry = alias_rows[key]
            others = sorted(_printable(name) for name in alias_rows[key] if name != "alias_of")
            if others:
                issues.append(
                    EntryIssue(
                        key,
                        "repaired",
                        f"alias row also has {', '.join(others)}; ignored, the fields are "
                        f"those of {resolved.key!r}",
                    )
                )
        else:
            # A pointer string is not an entry LiteLLM documents: say how it is read.
            issues.append(EntryIssue(key, "repaired", reason))
        models[key] = record

    ordered = [models[key] for key in sorted(models)]
    provider_keys = sorted({model.provider_key for model in ordered})
    providers = [directory.provider(key) for key in provider_keys]
    # What a later parse may take as is: models read from their own entry alone, with
    # nothing to say about it (an entry with a note must be read again to say it again).
    noted = {issue.key for issue in issues}
    reusable = {
        piece: model
        for key, piece in decoded.pieces.items()
        if (model := models.get(key)) is not None and model.alias_of is None and key not in noted
    }
    # Those taken from `previous` were reusable there (so no aliases), and keep their pieces.
    # Every issue is about a decoded member, so none of them is noted; were one ever, its
    # piece would be left out here.
    reusable.update(decoded.kept)
    if not noted.isdisjoint(decoded.reused):
        reusable = {piece: model for piece, model in reusable.items() if model.key not in noted}
    # A key with a lone surrogate cannot be stored even in a report: it is reported escaped.
    issues = [EntryIssue(_printable(i.key), i.action, i.reason) for i in issues]
    issues.sort(key=lambda issue: (issue.key, issue.action))
    return ParsedCatalog(
        providers=providers,
        models=ordered,
        issues=issues,
        extras=extras,
        reusable=reusable,
        layout=decoded.layout,
    )


def _is_alias_row(value: Any) -> bool:
    return isinstance(value, dict) and "alias_of" in value and "litellm_provider" not in value


def _resolve(
    key: str, names: dict[str, str], models: dict[str, ModelRecord]
) -> tuple[ModelRecord | None, str]:
    """The model `key` (an alias or pointer) resolves to, following chains; or why none."""
    path = [key]
    current = names[key]
    while True:
        if current in models and current not in names:
            kind = "pointer" if len(path) == 1 else "chain of aliases"
            served = f"{kind} to {names[key]!r}; served with the entry of {current!r}"
            return models[current], served
        if current in path:
            cycle = " -> ".join(repr(k) for k in [*path[path.index(current) :], current])
            return None, f"alias cycle {cycle}: resolves to no model"
        if current not in names:
            return None, f"alias of {names[key]!r}, which names no model entry in this file"
        if len(path) > _MAX_ALIAS_HOPS:
            return None, f"alias chain longer than {_MAX_ALIAS_HOPS} hops"
        path.append(current)
        current = names[current]


def _kept_as_extra(key: str, value: Any, extras: JSONObject, reason: str) -> str:
    """Keep a top-level entry that is not served as a model among the extras, if it can be
    stored and served as JSON; `reason` (why it is no model), extended when it cannot."""
    # NUL cannot be stored in PostgreSQL text, and lone surrogates in no JSON at all.
    if "\x00" in key or not _is_unicode(key):
        return f"{reason}; the key cannot be stored, so the entry is left out of the map"
    if _not_finite(value):
        value = None
    _scrub_non_finite(value)
    try:
        orjson.dumps([[[[[[[[value]]]]]]]])
    except orjson.JSONEncodeError:
        if _depth(value) > _MAX_DEPTH:
            return f"{reason}; nested too deeply to serve, so it is left out of the map"
        value = _repair(value, [])
    extras[key] = value
    return reason


def _decode(raw: bytes, previous: ParsedCatalog | None) -> members.Decoded[ModelRecord]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSourceFile(f"not UTF-8 text: byte {exc.start} cannot be decoded") from None
    if previous is not None and previous.reusable:
        decoded = members.decode_changes(text, previous.reusable, previous.layout)
        if decoded is not None:
            return decoded
    try:
        return members.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidSourceFile(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidSourceFile("not usable JSON: nested too deeply") from None
    except ValueError:
        raise InvalidSourceFile(
            f"not a JSON object: the top level is {_json_type(members.loads(text))}, "
            "expected an object mapping model keys to entries"
        ) from None


def _key_problem(key: str) -> str | None:
    """Why `key` cannot be a model key (stored, served, and the same on every database)."""
    if not key.strip():
        return "empty model key"
    if len(key) > _MAX_KEY_LENGTH:
        return f"model key longer than {_MAX_KEY_LENGTH} characters"
    if not _is_unicode(key):
        return "model key is not valid Unicode (a lone surrogate escape)"
    if _CONTROL.search(key):
        return "model key contains control characters"
    return None


def _repeated_below(
    value: Any, duplicates: members.Repeats, wanted: set[int], path: str = "", depth: int = 0
) -> set[str]:
    """Dotted paths of repeated fields in objects nested inside `value` (not `value` itself)."""
    if depth > _MAX_DEPTH:
        return set()
    if isinstance(value, dict):
        children = [(f"{path}.{name}" if path else name, item) for name, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return set()
    found: set[str] = set()
    for where, item in children:
        if id(item) in wanted:
            found |= {f"{where}.{field}" for field in duplicates[id(item)][1]}
        found |= _repeated_below(item, duplicates, wanted, where, depth + 1)
    return found


def _not_a_model(key: str, value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"entry is {_json_type(value)}, not an object"
    if key == "sample_spec":
        return "documentation of the file format (sample_spec), not a model"
    provider = value.get("litellm_provider")
    if provider is None:
        return "no litellm_provider field: metadata or documentation, not a model"
    if not isinstance(provider, str) or not _PROVIDER_KEY.fullmatch(provider):
        return f"litellm_provider {provider!r} is not a provider key: documentation, not a model"
    return None


def _model(key: str, entry: JSONObject, notes: list[str]) -> ModelRecord:
    provider = entry["litellm_provider"]
    mode = entry.get("mode")
    if mode is not None and not isinstance(mode, str):
        notes.append(f"mode {mode!r} is not a string; ignored")
        mode = None
    elif mode is not None and len(mode) > _MAX_MODE_LENGTH:
        notes.append(f"mode longer than {_MAX_MODE_LENGTH} characters; ignored")
        mode = None
    elif mode is not None and _CONTROL.search(mode):
        # PostgreSQL cannot store NUL in text, and SQLite would: refuse it on both alike.
        notes.append("mode contains control characters; ignored")
        mode = None

    input_cost: JSONObject = {}
    output_cost: JSONObject = {}
    cache_cost: JSONObject = {}
    tokens: JSONObject = {}
    rate_limits: JSONObject = {}
    media_limits: JSONObject = {}
    features: JSONObject = {}
    search_cost: JSONObject | None = None

    buckets = {
        "input_cost": input_cost,
        "output_cost": output_cost,
        "cache_cost": cache_cost,
        "rate_limits": rate_limits,
        "media_limits": media_limits,
    }
    for name, value in entry.items():
        kind = _field_kind(name)
        if kind is None or value is None:
            continue
        if kind == "features":
            flag = value if value is True or value is False else _flag(name, value, notes)
            if flag is not None:
                features[name] = flag
        elif kind == "tokens":
            count = value if type(value) is int else _count(name, value, notes)
            count = _int32(name, count, notes) if count is not None else None
            if count is not None:
                tokens[name] = count
        elif kind == "rate_limits":
            count = value if type(value) is int else _count(name, value, notes)
            if count is not None:
                rate_limits[name] = count
        elif kind == "search_context_cost_per_query":
            search_cost = _number_map(name, value, notes)
        else:
            plain = type(value) is int or (type(value) is float and math.isfinite(value))
            number = value if plain else _number(name, value, notes)
            if number is not None:
                buckets[kind][name] = number

    inputs, outputs, endpoints = _MODE_DEFAULTS.get(mode or "", _NO_DEFAULTS)
    listed_inputs = _listed(entry.get("supported_modalities"), _INPUT_MODALITIES)
    listed_outputs = _listed(entry.get("supported_output_modalities"), _OUTPUT_MODALITIES)
    modality = set(listed_inputs if listed_inputs is not None else inputs)
    modality |= listed_outputs if listed_outputs is not None else outputs
    modality |= {value for flag, value in _INPUT_FLAGS.items() if features.get(flag) is True}
    modality |= {value for flag, value in _OUTPUT_FLAGS.items() if features.get(flag) is True}

    listed_endpoints = entry.get("supported_endpoints")
    if isinstance(listed_endpoints, list) and listed_endpoints:
        endpoints = tuple(_endpoints(listed_endpoints))

    return ModelRecord(
        key=key,
        provider_key=provider,
        mode=mode,
        modality=[m for m in MODALITIES if m in modality],
        endpoints=[e for e in ENDPOINTS if e in endpoints],
        deprecation_date=_date(entry.get("deprecation_date"), notes),
        input_cost=input_cost or None,
        output_cost=output_cost or None,
        cache_cost=cache_cost or None,
        search_context_cost_per_query=search_cost or None,
        tokens=tokens or None,
        rate_limits=rate_limits or None,
        media_limits=media_limits or None,
        features=features or None,
        source_entry=entry,
    )


@functools.lru_cache(maxsize=4096)
def _field_kind(name: str) -> str | None:
    """Which bucket a LiteLLM field belongs to (None: kept only in the source entry)."""
    if name.startswith("supports_"):
        return "features"
    if name.startswith("max_"):
        return "tokens" if "tokens" in name else "media_limits"
    if name == "tool_use_system_prompt_tokens":
        return "tokens"
    if name in ("rpm", "tpm", "rpd"):
        return "rate_limits"
    if name.startswith("input_cost_per_") or name == "input_dbu_cost_per_token":
        return "input_cost"
    if name.startswith("output_cost_per_") or name in (
        "output_dbu_cost_per_token",
        "output_db_cost_per_token",
    ):
        return "output_cost"
    if name.startswith(("cache_read_input_", "cache_creation_input_")) and "cost" in name:
        return "cache_cost"
    if name == "search_context_cost_per_query":
        return "search_context_cost_per_query"
    return None


def _listed(values: Any, mapping: dict[str, str]) -> set[str] | None:
    if not isinstance(values, list):
        return None
    return {mapping[v] for v in values if isinstance(v, str) and v in mapping}


def _endpoints(values: Iterable[Any]) -> set[str]:
    found = set()
    for value in values:
        if isinstance(value, str):
            path = value.strip()
            found.add(_ENDPOINT_ALIASES.get(path, path))
    return found


def _flag(name: str, value: Any, notes: list[str]) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        notes.append(f"{name} {value!r} is a string; read as a boolean")
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        notes.append(f"{name} {value!r} is a number; read as a boolean")
        return bool(value)
    notes.append(f"{name} {value!r} is not a boolean; ignored")
    return None


def _number(name: str, value: Any, notes: list[str]) -> int | float | None:
    if isinstance(value, bool):
        notes.append(f"{name} {value!r} is not a number; ignored")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            notes.append(f"{name} {value!r} is not a number; ignored")
            return None
        if not math.isfinite(number):
            notes.append(f"{name} {value!r} is not a finite number; ignored")
            return None
        notes.append(f"{name} {value!r} is a string; read as a number")
        whole = number.is_integer() and "." not in value and abs(number) < 2**63
        return int(number) if whole else number
    notes.append(f"{name} is {_json_type(value)}, not a number; ignored")
    return None


def _number_map(name: str, value: Any, notes: list[str]) -> JSONObject | None:
    if not isinstance(value, dict):
        number = _number(name, value, notes)
        return None if number is None else {"search_context_size_medium": number}
    result: JSONObject = {}
    for sub, item in value.items():
        if item is None:
            continue
        number = _number(f"{name}.{sub}", item, notes)
        if number is not None:
            result[sub] = number
    return result


def _count(name: str, value: Any, notes: list[str]) -> int | None:
    """A token or request count as an integer; integral floats and numeric strings are read."""
    number = _number(name, value, notes)
    if number is not None and not _INT64[0] <= number <= _INT64[1]:
        notes.append(f"{name} {value!r} is beyond 64-bit range; ignored")
        return None
    if number is None or isinstance(number, int):
        return number
    if number.is_integer():
        if isinstance(value, float):
            notes.append(f"{name} {value!r} is a float; read as the integer {int(number)}")
        return int(number)
    notes.append(f"{name} {value!r} is not a whole number; rounded down to {int(number)}")
    return int(number)


def _int32(name: str, count: int, notes: list[str]) -> int | None:
    # Deployed clients keep token limits in 32-bit integers; a larger number would abort them.
    if count < 0:
        notes.append(f"{name} {count} is negative; left out of tokens")
        return None
    if count > _INT32_MAX:
        notes.append(f"{name} {count} exceeds 2^31-1; capped at {_INT32_MAX} in tokens")
        return _INT32_MAX
    return count


def _date(value: Any, notes: list[str]) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(f"deprecation_date {value!r} is not a date string; ignored")
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        notes.append(f"deprecation_date {value!r} is not a YYYY-MM-DD date; ignored")
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        date = dt.date(year, month, day)
    except ValueError:
        notes.append(f"deprecation_date {value!r} is not a calendar date; ignored")
        return None
    if date.isoformat() != value.strip():
        notes.append(f"deprecation_date {value!r} read as {date.isoformat()}")
    return date


def _not_finite(item: Any) -> bool:
    return item is members.NON_FINITE or (type(item) is float and not math.isfinite(item))


def _scrub_non_finite(value: Any, depth: int = 0) -> bool:
    """Replace NaN/Infinity in `value` by None, in place; True when there were any."""
    found = False
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, dict):
        for name, item in value.items():
            if _not_finite(item):
                value[name] = None
                found = True
            else:
                found = _scrub_non_finite(item, depth + 1) or found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if _not_finite(item):
                value[index] = None
                found = True
            else:
                found = _scrub_non_finite(item, depth + 1) or found
    return found


def _unstorable(entry: JSONObject, notes: list[str]) -> str | None:
    """Why `entry` cannot be stored and served as JSON, after repairing what can be; or None.

    Python's decoder accepts what JSON encoders (and databases) refuse: integers beyond 64
    bits, lone surrogate escapes, any depth of nesting. Such values are repaired with a note;
    an entry nested too deeply to serve is skipped.
    """
    # Served inside a catalog, an entry sits a few levels deep: check it at that depth.
    try:
        orjson.dumps([[[[[[[[entry]]]]]]]])
        return None
    except orjson.JSONEncodeError:
        pass
    if _depth(entry) > _MAX_DEPTH:
        return f"nested deeper than {_MAX_DEPTH} levels: cannot be served as JSON"
    repaired: list[str] = []
    _repair(entry, repaired)
    try:
        orjson.dumps([[[[[[[[entry]]]]]]]])
    except orjson.JSONEncodeError as exc:
        return f"cannot be stored as JSON: {exc}"
    notes.extend(sorted(set(repaired)))
    return None


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _repair(value: Any, repaired: list[str]) -> Any:
    """Make `value` encodable, in place where it is a container; returns the repaired value."""
    if isinstance(value, dict):
        for name in list(value):
            item = _repair(value[name], repaired)
            fixed_name = _repair(name, repaired) if isinstance(name, str) else name
            if fixed_name != name:
                del value[name]
            value[fixed_name] = item
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _repair(item, repaired)
        return value
    if type(value) is int and not -(2**63) <= value < 2**64:
        try:
            as_float = float(value)
        except OverflowError:  # beyond float range too (1 followed by 400 zeros)
            repaired.append("an integer beyond float range is read as null")
            return None
        repaired.append("an integer beyond 64 bits is read as a float")
        return as_float
    if isinstance(value, str) and not _is_unicode(value):
        repaired.append("a lone surrogate escape in a string is replaced by U+FFFD")
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _printable(text: str) -> str:
    return text if _is_unicode(text) else _escaped(text)


def _escaped(key: str) -> str:
    """A key as printable, storable text, for reporting keys that are neither."""
    return key.encode("unicode_escape", "backslashreplace").decode("ascii")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


# Revision 2: the vector_store mode maps to text modalities; odd pointer keys and modes are
# refused alike on every database. Revision 3: alias rows are served, other top-level
# entries kept as extras.
FORMAT = EngineFormat(
    key="litellm",
    name="LiteLLM",
    parse=parse,
    revision=3,
    package="litellm",
    data_member="litellm/model_prices_and_context_window_backup.json",
)
