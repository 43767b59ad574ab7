"""Settings of BudConnect, read once from `BUDCONNECT_*` environment variables and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from budconnect.domain.tokens import Tokens


class Settings(BaseSettings):
    """Everything configurable. Nothing here connects to anything; factories take a Settings."""

    model_config = SettingsConfigDict(env_prefix="BUDCONNECT_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./budconnect.db",
        description="SQLAlchemy URL: sqlite:///PATH (embedded default) or postgresql+psycopg://...",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Directory of <engine>/<version>.json source files; default: bundled files.",
    )
    max_page_limit: int = Field(default=100, ge=1, le=1000)
    snapshot_check_interval: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Seconds a worker trusts its view of the current snapshot digests.",
    )
    cache_max_age: int = Field(
        default=10,
        ge=0,
        description="Cache-Control max-age of snapshot responses, seconds.",
    )

    change_history: int = Field(
        default=1000,
        ge=1,
        description="Registry revisions of removals kept for the change feed; older: 410 Gone.",
    )

    database_wait: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds a request may wait for the database (and its turn) before a 503.",
    )
    max_concurrent_builds: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Requests per worker that may read the database or build a body at once.",
    )
    sweep_pin_seconds: float = Field(
        default=120.0,
        ge=0,
        description="Seconds pages 2.. of a client's compatible-models sweep come from the "
        "snapshot its page 1 came from.",
    )
    snapshot_cache_mb: int = Field(
        default=96,
        ge=1,
        description="Memory, in MiB, for the snapshots a worker keeps (each version it served).",
    )
    body_cache_mb: int = Field(
        default=128,
        ge=1,
        description="Memory, in MiB, for encoded response bodies a worker keeps.",
    )
    max_source_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest source file (model map) a seed or publish accepts, in bytes.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds a client may take to send a request's head before it is dropped.",
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=8 * 1024,
        le=16 * 1024 * 1024,
        description="Largest request head (request line and headers) accepted, in bytes; "
        "a larger one is answered 431.",
    )
    max_connections: int = Field(
        default=1000,
        ge=16,
        description="Connections one worker keeps open; past it, the longest idle is closed.",
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, le=600, description="Seconds an idle kept-alive connection stays open."
    )

    admin_tokens: str = Field(
        default="",
        repr=False,
        description="Tokens that may write, as name=sha256:HEX,... (budconnect token new NAME); "
        "none: writes are off.",
    )
    read_tokens: str = Field(
        default="",
        repr=False,
        description="Tokens that may read, same form; none: reads are open to all.",
    )
    write_rate: float = Field(
        default=30.0, gt=0, description="Writes per minute one client may make (burst: 10)."
    )
    expensive_read_rate: float = Field(
        default=600.0,
        gt=0,
        description="Reads per minute one client may make that build a body (a catalog, map, "
        "change feed or diff not in memory); bursts of a sixth of it (at least 10). Answers from "
        "memory, 304s and requests that wait for a build already under way are not counted.",
    )
    fleet_stale_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A deployment not seen for this long is flagged stale in /v1/fleet.",
    )
    fleet_forget_seconds: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="A deployment not seen for this long is forgotten (its row deleted).",
    )
    fleet_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds between writes of what pollers reported (one batch per worker).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per line, with request ids."
    )

    @field_validator("admin_tokens", "read_tokens")
    @classmethod
    def _tokens(cls, value: str) -> str:
        Tokens.parse(value, "tokens")
        return value

    def admin(self) -> Tokens:
        return Tokens.parse(self.admin_tokens, "BUDCONNECT_ADMIN_TOKENS")

    def readers(self) -> Tokens:
        return Tokens.parse(self.read_tokens, "BUDCONNECT_READ_TOKENS")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value
