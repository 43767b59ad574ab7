"""The tracker's metrics, for node_exporter's textfile collector.

The tracker is usually a cron job: a process per run, whose counters would restart at every
run (and whose process and runtime metrics would clash with the collector's own). So the
file holds gauges that describe the last run (when, how long, its outcome, its releases by
outcome) and when a run last completed, carried over from the file by a run that fails.
Nothing of the server's metrics, and no multiprocess files: the families are made for the
write and collected from a registry of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from budconnect.services.tracking import Outcome

RUN_OUTCOMES = ("ok", "held-back", "refused", "unavailable", "index-unavailable", "failed")
# The outcomes of `services.tracking.Tracked`, as that module names them.
RELEASE_OUTCOMES: tuple[str, ...] = get_args(Outcome)
LAST_SUCCESS = "budconnect_track_last_success_timestamp_seconds"


@dataclass(frozen=True, slots=True)
class TrackRun:
    engine: str
    outcome: str  # one of RUN_OUTCOMES
    started: float  # Unix time
    duration: float  # seconds
    releases: Mapping[str, int] = field(default_factory=dict)  # by outcome

    @property
    def completed(self) -> bool:
        """The index was read and every release handled (some perhaps held back)."""
        return self.outcome in ("ok", "held-back", "refused", "unavailable")


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def write_track_file(path: Path, run: TrackRun) -> None:
    """Write the metrics of `run` to `path`, whole (a temporary file renamed into place)."""
    ended = run.started + run.duration
    last_success = ended if run.completed else previous_value(path, LAST_SUCCESS, run.engine)
    labels = ["engine"]

    def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=labels)
        family.add_metric([run.engine], value)
        return family

    outcome = GaugeMetricFamily(
        "budconnect_track_last_run_outcome",
        "1 for the outcome of the tracker's last run (ok, held-back, refused, unavailable, "
        "index-unavailable, failed).",
        labels=["engine", "outcome"],
    )
    for name in RUN_OUTCOMES:
        outcome.add_metric([run.engine, name], 1.0 if name == run.outcome else 0.0)
    releases = GaugeMetricFamily(
        "budconnect_track_last_run_releases",
        "Releases the tracker's last run handled, by outcome.",
        labels=["engine", "outcome"],
    )
    for name in RELEASE_OUTCOMES:
        releases.add_metric([run.engine, name], float(run.releases.get(name, 0)))
    families: list[Metric] = [
        gauge(
            "budconnect_track_last_run_timestamp_seconds",
            "When the tracker's last run ended (Unix time).",
            ended,
        ),
        gauge(
            "budconnect_track_last_run_duration_seconds",
            "How long the tracker's last run took.",
            run.duration,
        ),
        outcome,
        releases,
    ]
    if last_success is not None:
        families.append(
            gauge(LAST_SUCCESS, "When a tracker run last completed (Unix time).", last_success)
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    write_to_textfile(str(path), registry)


def previous_value(path: Path, name: str, engine: str) -> float | None:
    """The value of `name{engine=...}` in the file an earlier run wrote, if any."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels.get("engine") == engine:
                    return float(sample.value)
    except ValueError:  # not a metrics file (any more): start afresh
        return None
    return None
