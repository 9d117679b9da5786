"""Resuming an interrupted run (`clearing resume LOG`): the run again, checked against the rows it kept, to its end.

A log stopped by SIGINT, SIGTERM or SIGKILL holds a prefix of its run (decision 0011's
reasoning: the run is a pure function of its scenario, seed and input files). Resuming re-runs
the header's scenario with its seed, checks every row the log holds against the new run's
(`clearing.apps.fork.PrefixCheck`: seq, time, kind, version, causes, payload and chain hash),
and goes on to the end; the result is written to `LOG.partial` and replaces LOG only when
complete, so the log is the one an uninterrupted run writes, head hash included, and a resume
that is itself interrupted leaves LOG as it was. Its header's `resumed_at` lists the event
counts it was resumed at (outside the chain, like the rest of the header; `verify` checks it is
a rising list no longer than the log).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from clearing.apps.fork import PrefixCheck
from clearing.apps.lifecycle import OutputFile, RunLifecycle, snapshot_every_of
from clearing.apps.summary import RunSummary
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.log.verify import check_structure, resumes
from clearing.log.writer import EventLog
from clearing.scenario import Scenario


class ResumeResult(NamedTuple):
    """What `resume_log` kept (the rows checked) and the summary of the whole run."""

    summary: RunSummary
    kept_events: int


def resume_log(
    path: Path | str, data_dir: str | Path | None = None, progress: Callable[[int, int], None] | None = None
) -> ResumeResult:
    """Run the interrupted log at `path` to its end, checking the rows it holds; replace it when complete.

    Raises:
        ConfigError: the log is complete or failed, its scenario does not load in this version, or
            its input files differ.
        VerificationError: a row of the log differs from the run's (the log is not a prefix of its run).
    """
    path = Path(path)
    with EventLogReader(path) as reader:
        check_structure(reader)
        h = reader.header
        if h.status == "complete":
            raise ConfigError(f"{path}: the run is complete; there is nothing to resume")
        if h.status == "failed":
            raise ConfigError(f"{path}: the run failed ({h.error}); resuming would fail the same way")
        try:
            scenario = Scenario.model_validate_json(h.scenario_json)
        except ValidationError as e:
            raise ConfigError(f"{path}: its scenario does not load in this version of clearing ({e})") from None
        run = RunLifecycle(scenario, h.seed, data_dir)
        if run.header.inputs_json != h.inputs_json:
            raise ConfigError(f"{path}: the input data differ from the run's "
                              f"(run {h.inputs_json}, found {run.header.inputs_json})")  # fmt: skip
        # The header says so (outside the chain: the head hash is the uninterrupted run's): after how many events.
        run.header = dataclasses.replace(run.header, resumed_at=(*resumes(reader), reader.count()))
        checks: list[PrefixCheck] = []

        def checked(log: EventLog) -> PrefixCheck:
            checks.append(PrefixCheck(log, reader, None, f"{path} is not a prefix of its run", parent_ends=True))
            return checks[0]

        try:
            summary = run.to_file(OutputFile(path, overwrite=True, atomic=True), progress=progress, wrap=checked,
                                  snapshot_every=snapshot_every_of(reader))  # fmt: skip
        finally:
            for check in checks:
                check.close()
    return ResumeResult(summary, checks[0].checked)
