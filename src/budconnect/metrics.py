"""Prometheus metrics: every one BudConnect exports, defined once, used by every layer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "budconnect_requests_total",
    "HTTP requests answered, by route, status and the path that answered (fast or routes).",
    ["route", "status"],
)
LATENCY = Histogram(
    "budconnect_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DROPPED = Counter(
    "budconnect_requests_dropped_total",
    "Expensive requests not built because their client left while they queued.",
)
REFUSED = Counter(
    "budconnect_requests_refused_total",
    "Requests answered 503 because the database did not answer in time, or too many "
    "expensive requests were under way (reason).",
    ["reason"],
)
BODIES_BUILT = Counter(
    "budconnect_bodies_built_total", "Response bodies built (cache misses), by kind.", ["kind"]
)
SNAPSHOTS_LOADED = Counter(
    "budconnect_snapshots_loaded_total", "Engine-version snapshots read from the database."
)
CACHE_BYTES = Gauge(
    "budconnect_cache_bytes",
    "Bytes held by each in-memory cache of a worker.",
    ["cache"],
    multiprocess_mode="livesum",
)
CACHE_ENTRIES = Gauge(
    "budconnect_cache_entries",
    "Entries held by each in-memory cache of a worker.",
    ["cache"],
    multiprocess_mode="livesum",
)
# Read from the database by each worker: the most recent reading of a live worker is it.
VERSIONS = Gauge(
    "budconnect_versions",
    "Engine versions held, by engine and state (final, prerelease, yanked).",
    ["engine", "state"],
    multiprocess_mode="livemostrecent",
)
FLEET_REPORTS_DROPPED = Counter(
    "budconnect_fleet_reports_dropped_total",
    "Poll reports of deployments not recorded: a worker held reports of as many others as it "
    "keeps between two writes.",
)
FLEET = Gauge(
    "budconnect_fleet_deployments",
    "Deployments heard from, by state: deployments (all), current, behind, stale (not seen "
    "for BUDCONNECT_FLEET_STALE_SECONDS), failing (their last apply failed).",
    ["state"],
    multiprocess_mode="livemostrecent",
)

SEEDS = Counter(
    "budconnect_seeds_total",
    "Seeds of an engine version, by engine and outcome (created, updated, unchanged, held-back, "
    "refused).",
    ["engine", "outcome"],
)
SEED_DURATION = Histogram(
    "budconnect_seed_duration_seconds",
    "Time to seed one engine version.",
    ["engine"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
