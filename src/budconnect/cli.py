"""The `budconnect` command: a thin shell over the services (serve, migrate, seed)."""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from budconnect import __version__
from budconnect.config import Settings
from budconnect.domain.records import JSONObject, Provenance
from budconnect.domain.tokens import TOKEN_NAME, TOKEN_NAME_RULE, new_token, token_hash
from budconnect.domain.versions import validate_engine_key, validate_version
from budconnect.errors import BudConnectError, HeldBack, InvalidSourceFile, SourceTooLarge
from budconnect.logs import log_config
from budconnect.seeders import (
    FORMATS,
    bundled_file,
    bundled_provenance,
    bundled_versions,
    engine_format,
)
from budconnect.services.seeding import (
    SeedResult,
    missing_bundled_versions,
    rederive_stale,
    seed,
    seed_bundled,
)
from budconnect.storage import migrate as migrations
from budconnect.storage.database import Database

app = typer.Typer(
    help="BudConnect: the registry of inference engines, versions, providers and models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"budconnect {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """BudConnect: the registry of inference engines, versions, providers and models."""


class CommandFailed(Exception):
    """A one-line message for the user; the command exits non-zero."""


@contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except (BudConnectError, CommandFailed) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BUDCONNECT_" + "_".join(str(p) for p in first["loc"]).upper()
        raise CommandFailed(f"{name}: {first['msg']}") from None


def _database(settings: Settings) -> Database:
    try:
        return Database(settings.database_url)
    except Exception as exc:  # a malformed URL is the user's to fix, not a traceback
        raise CommandFailed(f"BUDCONNECT_DATABASE_URL: {exc}") from None


@contextmanager
def _preview_database(settings: Settings) -> Iterator[Database]:
    """The database a dry run compares with: the configured one when it holds a schema,
    else a scratch one that is removed after (a dry run leaves no trace, not even a new
    database file or schema)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(settings.database_url)
    except Exception as exc:
        raise CommandFailed(f"BUDCONNECT_DATABASE_URL: {exc}") from None
    path = url.database
    missing = url.get_backend_name() == "sqlite" and not Path(str(path or "")).is_file()
    if not missing:
        db = _database(settings)
        try:
            if migrations.current_revision(db.engine) is not None:
                migrations.ensure_schema(db.engine)  # refuses a schema at another revision
                yield db
                return
        finally:
            db.dispose()
    with tempfile.TemporaryDirectory(prefix="budconnect-dry-run-") as directory:
        scratch = Database(f"sqlite:///{Path(directory) / 'preview.db'}")
        try:
            migrations.upgrade(scratch.engine)
            yield scratch
        finally:
            scratch.dispose()


def _existing_database(settings: Settings) -> Database:
    """The database of a command that only reads (`audit`): one that does not exist yet is
    said so, not created empty (a mistyped path would leave a new file behind)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(settings.database_url)
    except Exception as exc:
        raise CommandFailed(f"BUDCONNECT_DATABASE_URL: {exc}") from None
    path = url.database
    a_file = url.get_backend_name() == "sqlite" and path and path != ":memory:"
    if a_file and not Path(str(path)).is_file():
        raise CommandFailed(f"no database at {path}: BudConnect has written nothing there")
    db = _database(settings)
    if migrations.current_revision(db.engine) is None:
        db.dispose()
        raise CommandFailed("the database holds no BudConnect schema: nothing to read")
    migrations.ensure_schema(db.engine)  # refuses a schema at another revision
    return db


@app.command("migrate")
def migrate_command(
    revision: Annotated[
        str,
        typer.Option(
            help="Target revision: head, base (no schema), or a revision id; an older one "
            "than the database's moves it back."
        ),
    ] = "head",
) -> None:
    """Create the database schema, or move it forward (or back) to a revision."""
    with _reported():
        settings = _settings()
        db = _database(settings)
        before = migrations.current_revision(db.engine)
        step = migrations.migrate_to(db.engine, revision)
        after = migrations.current_revision(db.engine)
        moved = {"upgrade": f"upgraded from {before}", "downgrade": f"downgraded from {before}"}
        note = f" ({moved[step]})" if step in moved and before else ""
        where = f"schema at revision {after}" if after else "no schema (base)"
        out.print(f"{where}{note}")
        if revision == "head":
            for result in rederive_stale(
                db, data_dir=settings.data_dir, history=settings.change_history
            ):
                _print_rederived(result)


@app.command("seed")
def seed_command(
    engine: Annotated[str, typer.Argument(help="Engine key, e.g. litellm.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Engine version to seed.")
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all", help="Seed every bundled version of the engine.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Seed this file as --version instead of the bundled one."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Seed even what the gates hold back (under 50 models, or a shrink)."
        ),
    ] = False,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            help="Largest source file accepted (default BUDCONNECT_MAX_SOURCE_BYTES).",
            min=1,
            max=1 << 40,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the report and the diff against the version replaced (or "
            "the one before); write nothing.",
        ),
    ] = False,
) -> None:
    """Seed an engine version from its bundled data file (or any file).

    Exits 2 when the gates hold a file back (fewer than 50 models, or fewer than half of the
    version it replaces or follows); nothing is written then.
    """
    with _reported():
        engine_format(engine)  # refuses unknown or malformed engine keys before anything else
        if all_versions == (version is not None):
            raise CommandFailed("give exactly one of --version V or --all")
        if all_versions and file is not None:
            raise CommandFailed("--file seeds one version: use it with --version, not --all")
        if all_versions and dry_run:
            raise CommandFailed("--dry-run previews one version: use it with --version")
        settings = _settings()
        limit = max_bytes if max_bytes is not None else settings.max_source_bytes
        # The arguments, and the one file they name, are checked and read before the database
        # is opened: a refused argument leaves no trace, not even a new empty database file.
        # (A file that reads but does not parse is refused after the schema is in place.)
        if version is None:
            versions = bundled_versions(engine, settings.data_dir)
            if not versions:
                raise CommandFailed(f"no bundled files for engine {engine!r}")
        else:
            validate_version(version)
            source = file or bundled_file(engine, version, settings.data_dir)
            raw = _read_bounded(source, limit)
            if dry_run:
                with _preview_database(settings) as scratch:
                    _seed_dry_run(scratch, engine, version, source, raw, force, settings, limit)
                return
        db = _database(settings)
        migrations.ensure_schema(db.engine)

        if version is not None:
            try:
                result = seed(
                    db,
                    engine=engine,
                    version=version,
                    raw=raw,
                    history=settings.change_history,
                    force=force,
                    max_bytes=limit,
                    provenance=Provenance(origin="file")
                    if file
                    else bundled_provenance(engine, version, settings.data_dir),
                )
            except InvalidSourceFile as exc:
                raise CommandFailed(f"{source}: {exc}") from None
            except HeldBack as exc:
                _held_back(engine, version, exc)
            _print_result(result)
            return

        done: list[SeedResult] = []
        try:
            with Progress(
                TextColumn("seeding {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task(engine, total=len(versions))

                def advance(result: SeedResult) -> None:
                    done.append(result)
                    progress.update(task, advance=1, description=f"{engine} {result.version}")

                seed_bundled(
                    db,
                    engine=engine,
                    versions=versions,
                    data_dir=settings.data_dir,
                    on_done=advance,
                    history=settings.change_history,
                    max_bytes=limit,
                )
        except HeldBack as exc:  # as for one version: exit 2, the file named
            for result in done:
                _print_result(result)
            done.clear()
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        finally:
            # Versions seeded before a failure stay seeded: say what they are.
            for result in done:
                _print_result(result)


def _seed_dry_run(
    db: Database,
    engine: str,
    version: str,
    source: Path,
    raw: bytes,
    force: bool,
    settings: Settings,
    limit: int,
) -> None:
    """Print what seeding would do, and the diff; for what the gates hold back, what forcing
    would do, then why it is held back (exit 2, as the real seed)."""
    from budconnect.services.catalog import Catalog
    from budconnect.services.publishing import preview

    try:
        publication = preview(
            db,
            Catalog(db, check_interval=0),
            engine=engine,
            version=version,
            raw=raw,
            force=force,
            history=settings.change_history,
            max_bytes=limit,
        )
    except InvalidSourceFile as exc:
        raise CommandFailed(f"{source}: {exc}") from None
    except HeldBack as exc:
        _held_back(engine, version, exc)
    _print_result(publication.result)
    out.print("  dry run: nothing was written", highlight=False)
    if publication.held_back is not None:
        out.print("  (the report and diff say what --force would write)", highlight=False)
    _print_diff(engine, publication.compared_with, publication.diff)
    if publication.held_back is not None:
        _held_back(engine, version, publication.held_back)


def _held_back(engine: str, version: str, exc: HeldBack) -> NoReturn:
    err.print(f"error: {engine} {version}: {exc}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


def _print_diff(engine: str, compared: str | None, diff: JSONObject | None) -> None:
    if diff is None:
        out.print("  no version to compare with", highlight=False)
        return
    models = diff["models"]
    out.print(
        f"  against {engine} {compared}: {len(models['added'])} models added, "
        f"{len(models['removed'])} removed, {len(models['changed'])} changed",
        markup=False,
        highlight=False,
    )
    for kind in ("added", "removed"):
        for model in models[kind][:20]:
            out.print(f"    {kind} {model['uri']!r}", markup=False, highlight=False)
    for model in models["changed"][:20]:
        fields = ", ".join(c["field"] for c in model["changes"][:6])
        out.print(
            f"    changed {model['uri']!r}: {fields}", markup=False, highlight=False, soft_wrap=True
        )


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of `path`, refused (one line) when it is larger than `limit`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise CommandFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise CommandFailed(
            f"{path} is larger than {limit:,} bytes; raise the limit with --max-bytes if it "
            "is really a model map"
        )
    return raw


def _print_result(result: SeedResult) -> None:
    state = "created" if result.created else ("updated" if result.changed else "unchanged")
    if result.provenance_added:
        state += ", release date recorded"
    table = Table(title=f"{result.engine} {result.version}: {state}", title_justify="left")
    table.add_column("")
    for name in ("inserted", "updated", "removed", "unchanged"):
        table.add_column(name, justify="right")
    for label, counts in (("providers", result.providers), ("models", result.models)):
        table.add_row(
            label,
            str(counts.inserted),
            str(counts.updated),
            str(counts.removed),
            str(counts.unchanged),
        )
    out.print(table)
    if result.changed:
        for issue in result.issues:
            out.print(
                f"  {issue.action} {issue.key!r}: {issue.reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    elif result.issues:
        # Said when the version changed; an unchanged re-seed only counts them.
        out.print(
            f"  {len(result.skipped)} entries skipped and {len(result.repaired)} repaired, "
            "as when this file was first seeded",
            highlight=False,
        )
    out.print(f"  digest {result.content_digest}", markup=False, highlight=False)


def _print_rederived(result: SeedResult) -> None:
    err.print(_rederived(result), highlight=False, markup=False)


def _rederived(result: SeedResult) -> str:
    return (
        f"re-derived {result.engine} {result.version} for this version of BudConnect: "
        f"{result.models.updated} models updated, digest {result.content_digest[:16]}"
    )


def _seed_missing(db: Database, settings: Settings, log: logging.Logger) -> list[SeedResult]:
    """Seed the bundled versions the database lacks. One the gates hold back, or that does
    not parse (a truncated file in a data dir), is left out and said so: the server starts
    with the others rather than not at all, and the file is the operator's to fix (or to
    `seed --force`)."""
    results: list[SeedResult] = []
    for engine in sorted(FORMATS):
        for version in missing_bundled_versions(db, engine=engine, data_dir=settings.data_dir):
            try:
                results += seed_bundled(
                    db, engine=engine, versions=[version], data_dir=settings.data_dir,
                    history=settings.change_history, max_bytes=settings.max_source_bytes,
                )  # fmt: skip
            except (HeldBack, InvalidSourceFile, SourceTooLarge) as exc:
                # The error names the version and its file.
                log.warning("bundled file not seeded: %s", exc)
    return results


@app.command("track")
def track_command(
    engine: Annotated[str, typer.Argument(help="Engine key, e.g. litellm.")],
    once: Annotated[bool, typer.Option("--once", help="One run, then exit (for cron).")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between runs (jittered by 10%).", min=1)
    ] = 3600.0,
    since: Annotated[
        str | None, typer.Option(help="Ingest no release older than this version.")
    ] = None,
    pre: Annotated[bool, typer.Option("--pre", help="Ingest pre-releases too.")] = False,
    include_yanked: Annotated[
        bool, typer.Option("--include-yanked", help="Ingest yanked releases too.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Ingest what the gates hold back (and held back in earlier runs)."
        ),
    ] = False,
    retry: Annotated[
        bool, typer.Option("--retry", help="Retry releases noted as refused or held back.")
    ] = False,
    index_url: Annotated[
        str | None,
        typer.Option(help="Simple-API index to read; default: the one pip is configured with."),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            help="After every run, write the tracker's metrics here (Prometheus text format, "
            "for node_exporter's textfile collector)."
        ),
    ] = None,
) -> None:
    """Ingest every release of an engine on a package index that the registry lacks.

    Exits 2 when a release was held back or refused (it is noted, and reported), 1 when the
    index cannot be read; without --once it keeps polling and backs off on failures.
    """
    import random
    import signal
    import threading

    import httpx

    from budconnect.releases.index import (
        IndexUnavailable,
        SimpleIndex,
        configured_index_url,
        public_url,
    )
    from budconnect.services.tracking import TrackOptions
    from budconnect.track_metrics import TrackRun

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("budconnect.track")
    with _reported():
        engine_format(engine)
        if since is not None:
            validate_version(since)
        # Checked up front: an infinite or huge interval would crash the loop after a run
        # (Event.wait cannot wait that long). NaN fails too.
        if not 1 <= interval <= 7 * 86400.0:
            raise CommandFailed("--interval must be at least 1 and at most 604800 s (7 days)")
        if metrics_file is not None and not metrics_file.parent.is_dir():
            raise CommandFailed(f"--metrics-file: no directory {metrics_file.parent}")
        if index_url is not None and not index_url.strip():
            # Not "the configured index": an empty value is a mistake (an unset variable).
            raise CommandFailed("--index-url is empty: name the index, or leave the option out")
        settings = _settings()
        try:
            url = index_url or configured_index_url()
        except IndexUnavailable as exc:
            raise CommandFailed(str(exc)) from None
        _check_index_url(url)
        shown = public_url(url)  # what is printed and logged: never a mirror's password
        db = _database(settings)
        migrations.ensure_schema(db.engine)
        options = TrackOptions(
            since=since,
            include_prereleases=pre,
            include_yanked=include_yanked,
            force=force,
            retry_noted=retry,
            history=settings.change_history,
            max_source_bytes=settings.max_source_bytes,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        failures = 0
        with httpx.Client(
            timeout=httpx.Timeout(60.0, connect=10.0),
            headers={"user-agent": f"budconnect-track/{__version__}"},
        ) as client:
            index = SimpleIndex(url, client)
            while True:
                started, outcome, releases = time.time(), "failed", Counter[str]()
                try:
                    try:
                        report = _track_once(db, engine, index, client, options)
                    except IndexUnavailable as exc:
                        outcome = "index-unavailable"
                        if once:
                            raise CommandFailed(f"index {shown}: {exc}") from None
                        failures += 1
                        delay = min(interval, 2.0 ** min(failures, 12)) * random.uniform(0.5, 1)
                        log.warning("index %s unreadable (%d in a row): %s", shown, failures, exc)
                    else:
                        releases.update(item.outcome for item in report.tracked)
                        missed = {item.outcome for item in report.not_ingested}
                        # Held back first: `--force` is what that needs; refused: see the log;
                        # unavailable: the next run asks again.
                        worst = ("held-back", "refused", "unavailable")
                        outcome = next((o for o in worst if o in missed), "ok")
                        if failures:
                            log.info("index %s answers again after %d failed runs", shown, failures)
                        failures = 0
                        if once:
                            if report.not_ingested:
                                raise typer.Exit(2)
                            return
                        delay = interval * random.uniform(0.9, 1.1)
                finally:  # whatever ended the run: a failed one is said too
                    run = TrackRun(engine, outcome, started, time.time() - started, releases)
                    _write_metrics(metrics_file, run, log)
                if stop.wait(delay):
                    return


def _check_index_url(url: str) -> None:
    """An index URL the tracker can ask: http(s) with a host, read the way httpx reads it."""
    import httpx

    from budconnect.releases.index import public_url

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise CommandFailed(f"--index-url {public_url(url)!r} is not an URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CommandFailed(f"--index-url {public_url(url)!r} is not an http(s) URL with a host")


def _write_metrics(path: Path | None, run: Any, log: logging.Logger) -> None:
    if path is None:
        return
    from budconnect.track_metrics import write_track_file

    try:
        write_track_file(path, run)
    except OSError as exc:  # a full disk must not stop the tracking itself
        log.warning("cannot write metrics to %s: %s", path, exc.strerror or exc)


def _track_once(db: Database, engine: str, index: Any, client: Any, options: Any) -> Any:
    from budconnect.releases.index import public_url
    from budconnect.services.tracking import Tracked, track

    # Started once the releases are listed: a run that cannot read the index prints one line.
    progress = Progress(
        TextColumn("ingesting {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task: list[Any] = []

    def pending(releases: list[Any]) -> None:
        err.print(
            f"{public_url(index.index_url)}: {len(releases)} release(s) of {engine} to ingest",
            highlight=False,
            markup=False,
        )
        if releases:
            progress.start()
            task.append(progress.add_task(engine, total=len(releases)))

    def tracked(item: Tracked) -> None:
        if task:  # versions yanked on the index are reported before the ingestion starts
            progress.update(task[0], advance=1, description=f"{engine} {item.version}")
        if item.outcome == "ingested" and item.result is not None:
            _print_result(item.result)
        else:  # one line: held back, refused, yanked, or only its provenance recorded
            err.print(
                f"{item.outcome} {engine} {item.version}: {item.detail}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if item.yanked is not None and item.outcome != "yanked":
            err.print(
                f"yanked {engine} {item.version}: {item.yanked}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    try:
        return track(
            db,
            engine=engine,
            index=index,
            client=client,
            options=options,
            on_pending=pending,
            on_tracked=tracked,
        )
    finally:
        if task:  # stopping a display never started prints an empty line before an error
            progress.stop()


tokens_app = typer.Typer(help="Access tokens: make one, or hash one you have.")
app.add_typer(tokens_app, name="token")


@tokens_app.command("new")
def token_new(
    name: Annotated[str, typer.Argument(help="Who or what will use it, e.g. ci-publisher.")],
) -> None:
    """Make a random token: prints it once (give it to its user) and the configuration entry
    for BUDCONNECT_ADMIN_TOKENS or BUDCONNECT_READ_TOKENS (only its hash)."""
    with _reported():
        _check_token_name(name)
        token = new_token()
        typer.echo(f"token (shown once): {token}")
        typer.echo(f"configuration entry: {name}={token_hash(token)}")


def _check_token_name(name: str) -> None:
    """A name the server's token list takes (`name=sha256:HEX,...`)."""
    if not TOKEN_NAME.fullmatch(name):
        raise CommandFailed(TOKEN_NAME_RULE)


@tokens_app.command("hash")
def token_hash_command(
    name: Annotated[str, typer.Argument(help="The name the entry gives the token.")],
) -> None:
    """Read a token on standard input; print its configuration entry (name=sha256:...)."""
    with _reported():
        _check_token_name(name)
        token = sys.stdin.buffer.readline().strip().decode("latin-1")
        if not token:
            raise CommandFailed("no token on standard input")
        if not (token.isascii() and token.isprintable()):
            # It travels in an Authorization header, which is ASCII.
            raise CommandFailed("the token must be printable ASCII (as `token new` makes them)")
        typer.echo(f"{name}={token_hash(token)}")


@app.command("audit")
def audit_command(
    limit: Annotated[int, typer.Option(help="Entries, newest first.", min=1, max=1000)] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per entry, every field in full.")
    ] = False,
) -> None:
    """Show the audit log: every write over HTTP, newest first."""
    import orjson

    from budconnect.services.publishing import audit_entries, audit_record

    with _reported():
        db = _existing_database(_settings())
        if as_json:
            for entry in audit_entries(db, limit=limit):
                typer.echo(orjson.dumps(audit_record(entry)).decode())
            return
        # Fits 80 columns: engine and version in one column, digests cut to 8 characters
        # (--json has every field in full), and long values wrap instead of being cut.
        table = Table(title="audit log (UTC)", title_justify="left", box=None, pad_edge=False)
        for column in ("id", "at", "actor", "client", "action", "version", "digest"):
            table.add_column(column, overflow="fold", no_wrap=column in ("at", "digest"))
        for entry in audit_entries(db, limit=limit):
            at = entry.at.astimezone(dt.UTC) if entry.at.tzinfo else entry.at
            table.add_row(
                str(entry.id),
                at.strftime("%Y-%m-%d %H:%M"),
                entry.actor,
                entry.client,
                entry.action + (" (forced)" if entry.forced else ""),
                f"{entry.engine_key} {entry.version}",
                f"{(entry.digest_before or '-')[:8]}>{(entry.digest_after or '-')[:8]}",
            )
        out.print(table)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option(help="Log every request (costs throughput on the poll path).")
    ] = False,
) -> None:
    """Serve the API; first migrate an empty database and seed bundled versions it lacks."""
    from uvicorn.config import LOG_LEVELS
    from uvicorn.logging import TRACE_LOG_LEVEL

    from budconnect.api import server

    with _reported():
        settings = _settings()
        level = log_level.lower()
        if level not in LOG_LEVELS:
            raise CommandFailed(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        # The server's log format from its first line: what it seeds before it listens too.
        logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
        logging.config.dictConfig(log_config(settings.log_format, level))
        log = logging.getLogger("budconnect.serve")
        metrics_dir = None
        if workers > 1:
            log.warning(
                "%d workers on one port: a compatible-models sweep is pinned to its snapshot "
                "in the worker that answered its page 1; a client whose pages reach another "
                "worker (through a proxy's connection pool) may get them from a newer "
                "snapshot. Behind a proxy, run one worker per port and route each client to "
                "one (README, Bounds)",
                workers,
            )
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Workers are separate processes: their metrics meet in files (see api/metrics.py).
            metrics_dir = tempfile.mkdtemp(prefix="budconnect-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        with _reported():
            try:
                _prepare_database(settings, log)
            except (BudConnectError, CommandFailed) as exc:
                if settings.log_format != "json":
                    raise
                log.error("%s", exc)
                raise typer.Exit(1) from None
        _run_server(server, host, port, workers, level, access_log, log_level, settings)
    finally:
        if metrics_dir is not None:  # made for this run only
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_server(
    server: Any, host: str, port: int, workers: int, level: str, access_log: bool,
    log_level: str, settings: Settings,
) -> None:  # fmt: skip
    server.run(
        server.ServerConfig(
            "budconnect.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            access_log=access_log,
            server_header=False,
            timeout_keep_alive=settings.keep_alive_timeout,
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
            log_config=log_config(settings.log_format, log_level),
        )
    )


def _prepare_database(settings: Settings, log: logging.Logger) -> None:
    """Migrate an empty database, re-derive what older code seeded, seed the bundled
    versions it lacks: what `serve` does before it listens."""
    if settings.data_dir is not None and not settings.data_dir.is_dir():
        # A mistyped path would start a registry without its bundled versions, in silence.
        raise CommandFailed(f"BUDCONNECT_DATA_DIR: no directory {settings.data_dir}")
    db = _database(settings)
    migrations.ensure_schema(db.engine)
    for result in rederive_stale(db, data_dir=settings.data_dir, history=settings.change_history):
        log.info("%s", _rederived(result))
    # A new database gets every bundled version; an existing one gets the bundled versions it
    # lacks (a release that bundles a new LiteLLM version adds it). Versions already held are
    # left as they are: an operator may have seeded them from a file.
    for result in _seed_missing(db, settings, log):
        log.info(
            "seeded %s %s: %d providers, %d models",
            result.engine,
            result.version,
            result.providers.inserted,
            result.models.inserted,
        )
    db.dispose()


@app.command("sync")
def sync_command(
    server: Annotated[str, typer.Option(help="Base URL of the BudConnect server.")],
    state_dir: Annotated[Path, typer.Option(help="Directory of the local configuration.")],
    engine: Annotated[str, typer.Option(help="Engine key.")] = "litellm",
    engine_version: Annotated[str, typer.Option(help="Version to follow, or 'latest'.")] = "latest",
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=1)] = 300.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False,
    on_change: Annotated[
        str | None, typer.Option(help="Shell command run after a change is applied.")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Name sent in the User-Agent (default: host name).")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a connection or for the next bytes.")
    ] = 30.0,
    deadline: Annotated[
        float, typer.Option(help="Seconds a whole answer may take, body included.", min=1)
    ] = 120.0,
    hook_timeout: Annotated[
        float, typer.Option(help="Seconds the --on-change command may run.", min=1)
    ] = 120.0,
    max_body_mb: Annotated[
        int, typer.Option(help="Largest answer accepted, in MiB once decompressed.", min=1)
    ] = 256,
    allow_cross_origin_redirects: Annotated[
        bool,
        typer.Option(
            "--allow-cross-origin-redirects",
            help="Follow redirects to another scheme, host or port than --server.",
        ),
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding a read token, for a server that needs one "
            "(or set BUDCONNECT_SYNC_TOKEN).",
        ),
    ] = None,
) -> None:
    """Keep a local copy of one engine version in sync with a BudConnect server."""
    import signal

    from budconnect.releases.index import public_url
    from budconnect.sync import SyncClient

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with _reported():
        validate_engine_key(engine)
        if engine_version != "latest":
            validate_version(engine_version)
        _check_server(server)
        for option, value, most in (
            ("--interval", interval, 7 * 86400.0),
            ("--timeout", timeout, 3600.0),
            ("--deadline", deadline, 86400.0),
            ("--hook-timeout", hook_timeout, 86400.0),
        ):
            if not 0 < value <= most:  # NaN fails too
                raise CommandFailed(f"{option} must be more than 0 and at most {most:g} s")
        if max_body_mb > 64 * 1024:
            raise CommandFailed("--max-body-mb must be at most 65536 (64 GiB)")
        token = _sync_token(token_file)
        try:
            client = SyncClient(
                server,
                engine,
                engine_version,
                state_dir,
                deployment=deployment,
                timeout=timeout,
                deadline=deadline,
                on_change=on_change,
                hook_timeout=hook_timeout,
                max_body=max_body_mb * 1024 * 1024,
                allow_cross_origin_redirects=allow_cross_origin_redirects,
                token=token,
            )
        except OSError as exc:
            raise CommandFailed(
                f"cannot use {state_dir} (to sync {public_url(server)}): {exc.strerror or exc}"
            ) from None
        signal.signal(signal.SIGTERM, lambda *_: client.stop())
        try:
            outcome = client.run(interval, once=once)
        except RuntimeError as exc:
            raise CommandFailed(f"{exc} (to sync {client.server})") from None
        except OSError as exc:  # the lock file, before any poll
            raise CommandFailed(
                f"cannot use {state_dir} (to sync {client.server}): {exc}"
            ) from None
        finally:
            client.close()
        if once and outcome.status == "failed":
            raise CommandFailed(f"sync failed: {outcome.error}")
        if once and outcome.hook_error:
            raise CommandFailed(
                f"configuration from {client.server} applied, but {outcome.hook_error}"
            )


def _sync_token(path: Path | None) -> str | None:
    """The read token: from a file (not the command line, which other users can see), else
    from BUDCONNECT_SYNC_TOKEN; it must be printable, as a header takes it."""
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandFailed(f"--token-file {path}: {exc}") from None
        source = f"--token-file {path}"
    else:
        token, source = os.environ.get("BUDCONNECT_SYNC_TOKEN", "").strip(), "BUDCONNECT_SYNC_TOKEN"
    if not token:
        if path is not None:
            raise CommandFailed(f"{source} is empty")
        return None
    if not (token.isascii() and token.isprintable() and " " not in token):
        raise CommandFailed(f"{source}: a token is printable ASCII without spaces")
    return token


def _check_server(server: str) -> None:
    """--server names a scheme and a host, and nothing the client's paths would collide with."""
    import httpx

    try:
        url = httpx.URL(server)
    except httpx.InvalidURL as exc:
        raise CommandFailed(f"--server {server!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise CommandFailed(f"--server must be an http:// or https:// URL, got {server!r}")
    if url.query or url.fragment:
        raise CommandFailed(f"--server takes no query or fragment, got {server!r}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
