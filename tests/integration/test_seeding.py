"""Seeding on SQLite and PostgreSQL: snapshots per version, idempotence, atomicity."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, event, func, select, text

from budconnect.domain.documents import catalog_digest, model_template
from budconnect.errors import HeldBack, InvalidIdentifier, InvalidSourceFile, SourceTooLarge
from budconnect.seeders import parser_fingerprint
from budconnect.seeders.litellm import parse
from budconnect.services.catalog import Catalog
from budconnect.services.derived import DERIVATIONS
from budconnect.services.seeding import rederive_stale, seed
from budconnect.services.snapshots import documents, records_digest
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.membership import unpack
from budconnect.storage.migrate import upgrade
from budconnect.storage.tables import engine, engine_version, metadata, model_entry, provider_entry
from tests.conftest import VERSIONS, source_bytes, source_models


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing was written."""
    result = {}
    with db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            result[table.name] = [tuple(row) for row in rows]
    return result


def version_rows(db: Database, version: str) -> list[tuple[Any, ...]]:
    """Rows that make up one version: its version row and the entries it holds."""
    with db.read() as conn:
        row = conn.execute(select(engine_version).where(engine_version.c.version == version)).one()
        rows = [tuple(row)]
        for table, packed in ((provider_entry, row.providers), (model_entry, row.models)):
            ids = unpack(packed)
            rows += [
                tuple(r)
                for r in conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
            ]
    return rows


def served(db: Database, version: str) -> bytes:
    snapshot = Catalog(db, check_interval=0).snapshot("litellm", version)
    return orjson.dumps(snapshot.providers)


def test_a_fresh_seed_stores_every_model_with_its_provider_and_entry(db: Database) -> None:
    result = seed(db, engine="litellm", version="1.65.8", raw=source_bytes("1.65.8"))
    expected = source_models("1.65.8")
    assert result.created
    assert result.models.inserted == len(expected)
    assert result.providers.inserted == len({e["litellm_provider"] for e in expected.values()})
    assert {i.key for i in result.skipped} == {"sample_spec"}
    assert {i.key for i in result.repaired} == {"perplexity/sonar", "perplexity/sonar-pro"}

    with db.read() as conn:
        rows = conn.execute(
            select(model_entry.c.key, model_entry.c.provider_key, model_entry.c.source_entry)
        ).all()
    assert {key: (prov, entry) for key, prov, entry in rows} == {
        key: (entry["litellm_provider"], entry) for key, entry in expected.items()
    }


def test_reseeding_the_same_file_writes_nothing(db: Database) -> None:
    seed(db, engine="litellm", version="1.70.4", raw=source_bytes("1.70.4"))
    before = dump(db)
    again = seed(db, engine="litellm", version="1.70.4", raw=source_bytes("1.70.4"))
    assert not again.changed
    assert again.models.unchanged == len(source_models("1.70.4"))
    assert again.models.inserted == again.models.updated == again.models.removed == 0
    assert dump(db) == before


def test_rederiving_unchanged_entries_in_a_new_wire_format_moves_the_digest(
    db: Database,
) -> None:
    """After an upgrade that serves the same entries in another wire format, re-deriving a
    version gives it the digest of what is now served and a new revision, so that clients
    holding the old ETag fetch it again instead of getting 304 forever."""
    seed(db, engine="litellm", version="1.65.8", raw=source_bytes("1.65.8"))
    served = Catalog(db, check_interval=0).snapshot("litellm", "1.65.8")
    with db.write() as conn:  # as seeded by code with another wire format
        conn.execute(text("UPDATE engine_version SET parser_revision = 0, content_digest = 'old'"))
        before = conn.execute(select(engine_version.c.revision)).scalar_one()

    (result,) = rederive_stale(db)
    assert result.format_changed
    assert result.changed
    assert (result.providers.changed, result.models.changed) == (False, False)
    with db.read() as conn:
        digest, revision = conn.execute(
            select(engine_version.c.content_digest, engine_version.c.revision)
        ).one()
    assert digest == served.digest == result.content_digest
    assert revision > before
    assert rederive_stale(db) == []


def test_reseeding_the_same_content_in_different_bytes_writes_no_row(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    before = dump(db)
    reformatted = json.dumps(json.loads(source_bytes("1.14.4")), indent=1).encode()
    again = seed(db, engine="litellm", version="1.14.4", raw=reformatted)
    assert not again.changed
    assert again.models.unchanged == len(source_models("1.14.4"))
    after = dump(db)
    # Only the recorded digest of the source bytes may differ; no timestamps, no content.
    for table in ("model_entry", "provider_entry", "document", "version_state"):
        assert after[table] == before[table]
    (old,), (new,) = before["engine_version"], after["engine_version"]
    assert [a for a, b in zip(old, new, strict=True) if a != b] == [old[5]]


def test_a_changed_file_makes_the_version_equal_the_file(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    document = json.loads(source_bytes("1.14.4"))
    gone_provider = "nlp_cloud"
    changed_key = "gpt-4"
    removed = [k for k, v in document.items() if v.get("litellm_provider") == gone_provider]
    assert removed
    for key in removed:
        del document[key]
    document[changed_key]["input_cost_per_token"] = 1.0
    document["brand-new-model"] = {"litellm_provider": "openai", "mode": "chat"}

    result = seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
    assert (result.models.inserted, result.models.updated, result.models.removed) == (
        1,
        1,
        len(removed),
    )
    assert (result.providers.inserted, result.providers.removed) == (0, 1)

    snapshot = Catalog(db, check_interval=0).snapshot("litellm", "1.14.4")
    entries = {m["uri"]: m["source_entry"] for p in snapshot.providers for m in p["models"]}
    assert entries == document
    assert gone_provider not in {p["provider_type"] for p in snapshot.providers}


def test_seeding_one_version_leaves_another_byte_identical(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    rows_before, body_before = version_rows(db, "1.60.9"), served(db, "1.60.9")
    seed(db, engine="litellm", version="1.65.8", raw=source_bytes("1.65.8"))
    # Re-seeding the other version with different content must not leak either.
    seed(db, engine="litellm", version="1.65.8", raw=source_bytes("1.60.9"))
    assert version_rows(db, "1.60.9") == rows_before
    assert served(db, "1.60.9") == body_before


def test_a_seed_that_fails_part_way_leaves_the_previous_state(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    before = dump(db)
    # A real database failure in the middle of the write: a trigger refuses one model row,
    # after providers and other models of the same seed were already written.
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_boom BEFORE INSERT ON model_entry "
                    "WHEN NEW.key = 'zz-boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.key = 'zz-boom' THEN RAISE EXCEPTION 'boom refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_boom BEFORE INSERT ON model_entry "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_boom()"
                )
            )
    document = json.loads(source_bytes("1.60.9"))  # many changes against 1.14.4
    document["zz-boom"] = {"litellm_provider": "openai"}
    with pytest.raises(Exception, match="boom refused"):
        seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
    with pytest.raises(Exception, match="boom refused"):
        seed(db, engine="litellm", version="9.9.9", raw=json.dumps(document).encode())
    assert dump(db) == before


def test_a_file_that_is_not_json_is_refused_without_writes(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    before = dump(db)
    with pytest.raises(InvalidSourceFile):
        seed(db, engine="litellm", version="1.14.4", raw=b'{"truncated": {')
    with pytest.raises(InvalidSourceFile):
        seed(db, engine="litellm", version="2.0.0", raw=b"[]")
    with pytest.raises(InvalidIdentifier):
        seed(db, engine="litellm", version="../../x", raw=source_bytes("1.14.4"))
    assert dump(db) == before


def test_concurrent_seeders_of_the_same_version_apply_it_once(db: Database) -> None:
    results, errors = [], []

    def run() -> None:
        try:
            results.append(seed(db, engine="litellm", version="1.70.4", raw=source_bytes("1.70.4")))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.created for r in results) == 1
    with db.read() as conn:
        assert conn.execute(select(engine.c.key)).scalars().all() == ["litellm"]
        stored = conn.execute(select(model_entry.c.id)).all()
        assert len(stored) == len(source_models("1.70.4"))


def test_concurrent_seeders_of_different_versions_share_one_engine_row(db: Database) -> None:
    errors: list[Exception] = []

    def run(version: str) -> None:
        try:
            seed(db, engine="litellm", version=version, raw=source_bytes(version))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in ("1.14.4", "1.60.9", "1.65.8")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as conn:
        assert conn.execute(select(engine.c.key)).scalars().all() == ["litellm"]
        assert sorted(conn.execute(select(engine_version.c.version)).scalars()) == [
            "1.14.4",
            "1.60.9",
            "1.65.8",
        ]


def test_ids_are_stable_across_a_removal_and_a_reseed(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    first = served(db, "1.14.4")
    seed(
        db,
        engine="litellm",
        version="1.14.4",
        raw=b'{"x": {"litellm_provider": "openai"}}',
        force=True,
    )
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    assert served(db, "1.14.4") == first


def test_the_stored_digest_is_the_digest_of_what_is_served(db: Database) -> None:
    result = seed(db, engine="litellm", version="1.80.17", raw=source_bytes("1.80.17"))
    snapshot = Catalog(db, check_interval=0).snapshot("litellm", "1.80.17")
    assert snapshot.digest == result.content_digest
    # Recomputed from the served documents alone, as a client verifies it.
    assert catalog_digest(
        engine="litellm", version="1.80.17", providers=snapshot.providers, extras=snapshot.extras
    ) == (result.content_digest)


def litellm_layout(document: dict[str, Any]) -> bytes:
    """A model map written as LiteLLM writes it."""
    return (json.dumps(document, indent=4) + "\n").encode()


def test_a_release_seeded_after_the_one_before_is_stored_as_if_seeded_alone(
    database_url: str, tmp_path: Path
) -> None:
    """A seed parses and derives only the entries that changed since the source this process
    seeded last; what it stores and serves is what a seed of the file alone gives."""
    document = json.loads(source_bytes("1.100.5"))
    changed = [k for k, v in document.items() if k != "sample_spec" and "mode" in v][:10]
    newer = litellm_layout(
        {**document, **{k: {**document[k], "input_cost_per_token": 0.125} for k in changed}}
    )
    warm = Database(database_url)
    upgrade(warm.engine)
    seed(warm, engine="litellm", version="1.100.5", raw=litellm_layout(document))
    previous = DERIVATIONS.previous("litellm", parser_fingerprint("litellm"))
    assert previous is not None
    result = seed(warm, engine="litellm", version="1.100.6", raw=newer)
    latest = DERIVATIONS.previous("litellm", parser_fingerprint("litellm"))
    assert latest is not None
    # Parsed again: the changed entries, those with something to say (each seed says it), and
    # the file's last member (its text runs into the closing brace: it is always decoded).
    held = {id(m) for m in previous.models}
    parsed_again = {m.key for m in latest.models if id(m) not in held}
    noted = {i.key for i in latest.issues if i.key in parsed_again}
    assert parsed_again == {*changed, list(document)[-1]} | noted
    assert len(parsed_again) < 40

    DERIVATIONS.clear()
    alone = Database(f"sqlite:///{tmp_path / 'alone.db'}")
    upgrade(alone.engine)
    alone_result = seed(alone, engine="litellm", version="1.100.6", raw=newer)
    assert result.content_digest == alone_result.content_digest
    assert served(warm, "1.100.6") == served(alone, "1.100.6")
    assert result.models.inserted == len(latest.models)
    with warm.read() as conn:
        stored = conn.execute(select(func.count()).select_from(model_entry)).scalar_one()
    assert stored == len(previous.models) + 10  # the changed models are the only new entries
    warm.dispose()
    alone.dispose()


def test_the_digest_from_templates_is_the_digest_of_the_documents() -> None:
    for version in VERSIONS:
        parsed = parse(source_bytes(version))
        served_documents = documents("litellm", version, parsed.providers, parsed.models)
        expected = catalog_digest(
            engine="litellm", version=version, providers=served_documents, extras=parsed.extras
        )
        for templates in ([model_template(m) for m in parsed.models], [None] * len(parsed.models)):
            assert expected == records_digest(
                engine="litellm",
                version=version,
                providers=parsed.providers,
                models=parsed.models,
                extras=parsed.extras,
                templates=templates,
            )


def test_every_changing_seed_raises_the_registry_revision(db: Database) -> None:
    first = seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    second = seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    unchanged = seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    changed = seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.60.9"))
    assert 0 < first.revision < second.revision < changed.revision
    assert unchanged.revision == first.revision


def models_file(count: int) -> bytes:
    return json.dumps(
        {f"m{n}": {"litellm_provider": "openai", "mode": "chat"} for n in range(count)}
    ).encode()


def test_the_gates_hold_back_a_map_too_small_or_shrunk_and_write_nothing(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    held = len(source_models("1.14.4"))
    before = dump(db)
    only_skipped = json.dumps({"sample_spec": {"mode": "chat"}, "x": "nowhere"}).encode()
    for version, raw, message in (
        ("1.14.4", b"{}", "no models"),
        ("2.0.0", only_skipped, "no models"),
        ("2.0.0", models_file(49), "49 models, fewer than 50"),
        ("1.14.4", models_file(held // 2 - 1), f"of the {held} of 1.14.4"),
        ("1.15.0", models_file(held // 2 - 1), f"of the {held} of 1.14.4"),  # the one before
    ):
        with pytest.raises(HeldBack, match=message):
            seed(db, engine="litellm", version=version, raw=raw)
        assert dump(db) == before
    # An older version is not compared with a newer one, and a forced seed goes through,
    # unless it would publish a version without models.
    assert seed(db, engine="litellm", version="1.0.0", raw=models_file(60)).created
    before = dump(db)
    for version, raw in (("1.14.4", b"{}"), ("2.0.0", only_skipped)):
        with pytest.raises(HeldBack, match="not even with force"):
            seed(db, engine="litellm", version=version, raw=raw, force=True)
        assert dump(db) == before
    forced = seed(db, engine="litellm", version="1.14.4", raw=models_file(1), force=True)
    assert (forced.models.inserted, forced.models.unchanged) == (1, 0)
    assert forced.models.removed == held


def test_a_source_beyond_the_size_limit_is_refused_before_parsing(db: Database) -> None:
    before = dump(db)
    with pytest.raises(SourceTooLarge, match="more than the limit of 1,024"):
        seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"), max_bytes=1024)
    assert dump(db) == before


def test_entry_ids_answer_the_same_with_and_without_sqlite_json(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-statement lookup (JSON or array parameter) and the chunked one for SQLite
    before 3.38 agree, for found and missing digests alike, in any order."""
    seed(db, engine="litellm", version="1.70.4", raw=source_bytes("1.70.4"))
    with db.read() as conn:
        stored = dict(conn.execute(select(model_entry.c.digest, model_entry.c.id)).all())
        asked = [*sorted(stored, reverse=True)[:700], "0" * 64, *sorted(stored)[:5], "f" * 64]
        expected = {d: stored[d] for d in asked if d in stored}
        assert repo.entry_ids(conn, model_entry, asked) == expected
        assert repo.entry_ids(conn, model_entry, []) == {}
        monkeypatch.setattr(repo, "_SQLITE_JSON", False)
        assert repo.entry_ids(conn, model_entry, asked) == expected


def looked_up_digests(db: Database) -> list[str]:
    """Digests the database is asked for by entry lookups from now on (filled as it runs)."""
    asked: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "json_each(" in statement or "string_to_array(" in statement or " IN (" in statement:
            asked.extend(re.findall(r"[0-9a-f]{64}", str(parameters)))

    event.listen(db.engine, "before_cursor_execute", listen)
    return asked


def releases(count: int) -> list[bytes]:
    """Map 0 is the bundled 1.100.5; each next one changes 10 models of the one before."""
    document = json.loads(source_bytes("1.100.5"))
    keys = [k for k, v in document.items() if k != "sample_spec" and "mode" in v]
    maps = []
    for index in range(count):
        for key in keys[index * 10 : index * 10 + 10] if index else ():
            document[key] = {**document[key], "input_cost_per_token": index / 1e6}
        maps.append(litellm_layout(document))
    return maps


def seeded_alone(tmp_path: Path, version: str, raw: bytes) -> bytes:
    DERIVATIONS.clear()
    alone = Database(f"sqlite:///{tmp_path / f'alone-{version}.db'}")
    upgrade(alone.engine)
    seed(alone, engine="litellm", version=version, raw=raw)
    try:
        return served(alone, version)
    finally:
        alone.dispose()


def test_a_seed_looks_up_only_the_entries_the_last_committed_one_did_not_hold(
    db: Database, tmp_path: Path
) -> None:
    first, second, third = releases(3)
    seed(db, engine="litellm", version="3.0.0", raw=first)
    asked = looked_up_digests(db)
    seed(db, engine="litellm", version="3.0.1", raw=second)
    assert 10 <= len(asked) < 40  # the changed models (and any provider new to it)
    # Rolled back: nothing of it is remembered, and the next seed is still exact.
    seed(db, engine="litellm", version="3.0.2", raw=third, dry_run=True)
    with pytest.raises(RuntimeError):
        seed(
            db, engine="litellm", version="3.0.2", raw=third,
            on_applied=lambda *_: (_ for _ in ()).throw(RuntimeError("audit failed")),
        )  # fmt: skip
    asked.clear()
    seed(db, engine="litellm", version="3.0.2", raw=third)
    assert 10 <= len(asked) < 40
    assert served(db, "3.0.2") == seeded_alone(tmp_path, "3.0.2", third)


def copy_database(db: Database, name: str, tmp_path: Path) -> Callable[[], None]:
    """Back `db`'s database up now; the result restores it (same address, same instance)."""
    db.dispose()
    if db.is_sqlite:
        path = Path(str(db.engine.url.database))
        backup = tmp_path / f"{name}.db"
        shutil.copyfile(path, backup)

        def put_back() -> None:
            db.dispose()
            shutil.copyfile(backup, path)

        return put_back
    original = db.engine.url.database
    admin = create_engine(db.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{original}_{name}" TEMPLATE "{original}"'))

    def restore() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{original}" WITH (FORCE)'))
            conn.execute(text(f'ALTER DATABASE "{original}_{name}" RENAME TO "{original}"'))
        admin.dispose()

    return restore


def test_remembered_ids_of_a_version_the_database_lost_are_not_used(
    db: Database, tmp_path: Path
) -> None:
    """Restored from a backup taken before the version seeded last, the database lacks that
    version's new entries: the next seed looks them up (and inserts them) again."""
    first, second, third = releases(3)
    seed(db, engine="litellm", version="3.0.0", raw=first)
    restore = copy_database(db, "backup", tmp_path)
    seed(db, engine="litellm", version="3.0.1", raw=second)
    restore()
    seed(db, engine="litellm", version="3.0.2", raw=third)
    assert served(db, "3.0.2") == seeded_alone(tmp_path, "3.0.2", third)


def test_remembered_ids_of_a_version_the_database_holds_otherwise_are_not_used(
    db: Database, tmp_path: Path
) -> None:
    """Restored from a backup in which the version seeded last held other entries, the
    database has that version still, but not the entries it was given since."""
    first, second, third = releases(3)
    seed(db, engine="litellm", version="3.0.0", raw=first)
    seed(db, engine="litellm", version="3.0.1", raw=first)
    restore = copy_database(db, "backup", tmp_path)
    seed(db, engine="litellm", version="3.0.1", raw=second)
    restore()
    seed(db, engine="litellm", version="3.0.2", raw=third)
    assert served(db, "3.0.2") == seeded_alone(tmp_path, "3.0.2", third)


def test_remembered_ids_are_not_used_on_another_database_at_the_same_address(
    db: Database, tmp_path: Path
) -> None:
    """A database made again (its registry instance differs) holding the very same version
    is another database: the seed looks every entry up."""
    first, second = releases(2)
    seed(db, engine="litellm", version="3.0.0", raw=first)
    remembered = db.known_entries.get("litellm")
    assert remembered is not None
    db.dispose()
    if db.is_sqlite:
        Path(str(db.engine.url.database)).unlink()
    else:
        with db.engine.connect() as conn, conn.begin():
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(db.engine)
    DERIVATIONS.clear()
    seed(db, engine="litellm", version="3.0.0", raw=first)
    again = db.known_entries.get("litellm")
    assert again is not None
    assert again.instance != remembered.instance
    db.known_entries.remember("litellm", remembered)  # as if the process had not seen it
    asked = looked_up_digests(db)
    seed(db, engine="litellm", version="3.0.1", raw=second)
    assert len(asked) > 3000
    assert served(db, "3.0.1") == seeded_alone(tmp_path, "3.0.1", second)


def count_reads(db: Database) -> list[str]:
    """Statements that read every version's model count, from now on (filled as it runs)."""
    reads: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "engine_version.version, engine_version.model_count" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    return reads


def test_the_gates_take_the_counts_the_last_seed_left_while_nothing_else_was_written(
    db: Database,
) -> None:
    seed(db, engine="litellm", version="3.0.0", raw=models_file(1000))
    reads = count_reads(db)
    assert seed(db, engine="litellm", version="3.0.1", raw=models_file(500)).created
    assert reads == []
    # The counts it keeps include the versions it added: 3.0.3 is compared with 3.0.2.
    assert seed(db, engine="litellm", version="3.0.2", raw=models_file(250)).created
    with pytest.raises(HeldBack, match=re.escape("of the 250 of 3.0.2")):
        seed(db, engine="litellm", version="3.0.3", raw=models_file(124))
    assert reads == []


def test_the_gates_see_a_version_another_process_added_since(
    db: Database, database_url: str
) -> None:
    """Another writer raised the registry revision: the counts this process kept are read
    again, so a new version is compared with the one the other process added."""
    seed(db, engine="litellm", version="3.0.0", raw=models_file(60))
    other = Database(database_url)
    try:
        seed(other, engine="litellm", version="3.0.1", raw=models_file(400))
    finally:
        other.dispose()
    reads = count_reads(db)
    with pytest.raises(HeldBack, match=re.escape("of the 400 of 3.0.1")):
        seed(db, engine="litellm", version="3.0.2", raw=models_file(100))
    assert len(reads) == 1


def test_a_version_equal_to_one_held_under_another_spelling_is_refused(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    before = dump(db)
    for spelling in ("1.14.4.0", "1.14.4.0.0"):
        for force in (False, True):
            with pytest.raises(InvalidIdentifier, match=r"same version as '1\.14\.4'"):
                seed(
                    db, engine="litellm", version=spelling, raw=source_bytes("1.14.4"), force=force
                )
            assert dump(db) == before
    # The name held is still replaced as ever, and a different version is still new.
    assert not seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4")).changed
    assert seed(db, engine="litellm", version="1.14.4.1", raw=source_bytes("1.14.4")).created
