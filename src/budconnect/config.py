"""Settings of BudConnect, read once from `BUDCONNECT_*` environment variables and validated."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    keep_alive_timeout: int = Field(
        default=5, ge=1, le=600, description="Seconds an idle kept-alive connection stays open."
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value
