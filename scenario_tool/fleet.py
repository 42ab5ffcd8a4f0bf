"""``quecemu scenario run --modules N``: every scenario on N in-process modules at once.

Module i has the IMEI at index i after the profile's (serial number + i, 3GPP TS 23.003 check
digit), so its endpoint name (``urn:imei:...``) is its own. Each module runs the scenario in
a session of its own: its own embedded server (or its own endpoint on a Leshan), fault relay
and transcript file, so a scenario that stops the server or drops datagrams disturbs only
its module. Results are per module: one JUnit test case per scenario and module.

The modules are spread over worker processes (``--workers W``, by default one per CPU the
process may run on): worker w hosts a contiguous slice of the modules, their servers and
relays on an event loop of its own, and runs the scenarios one after the other on them; within
one scenario the modules of a slice run together. Nothing a module does depends on the slice
it is in, so its results do not depend on W. Each worker sends a scenario's results when its
slice has finished it; they are reported (and returned) in scenario, module order, a scenario
once every worker has finished it. With one worker everything runs in this process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import queue
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from emulator.module.profile import ProfileError, load_profile
from emulator.module.state import derive_imei
from scenario_tool.errors import ScenarioError, WorkerLost
from scenario_tool.format import Scenario
from scenario_tool.runner import Runner, RunOptions, ScenarioResult
from scenario_tool.transcript import Transcript

MAX_MODULES: Final = 1000
# A worker that says nothing for this long is checked for being alive (it may take minutes).
_POLL_SECONDS: Final = 0.5


@dataclass(frozen=True, kw_only=True)
class ModuleResult:
    """One scenario on one module of a ``--modules`` run."""

    module: int
    imei: str
    transcript: Path
    result: ScenarioResult


@dataclass(frozen=True, kw_only=True)
class ModuleSlice:
    """The modules one worker hosts: indexes ``first`` .. ``first + len(imeis) - 1``."""

    first: int
    imeis: tuple[str, ...]
    transcripts: tuple[Path, ...]

    @property
    def last(self) -> int:
        return self.first + len(self.imeis) - 1


def module_transcript(path: Path, index: int, modules: int) -> Path:
    """``run.log`` → ``run.m007.log``: one transcript per module."""
    width = max(3, len(str(modules - 1)))
    return path.with_name(f"{path.stem}.m{index:0{width}d}{path.suffix}")


def module_imeis(options: RunOptions, scenarios: Sequence[Scenario], modules: int) -> list[str]:
    """The IMEIs of the N modules, from the profile every scenario uses."""
    profiles = {options.profile or scenario.profile for scenario in scenarios}
    if len(profiles) != 1:
        raise ScenarioError(
            "--modules runs every scenario on the same modules: give --profile, or use "
            f"scenarios of one profile (these use {', '.join(sorted(profiles))})"
        )
    try:
        first = load_profile(profiles.pop()).identity.imei
    except ProfileError as exc:
        raise ScenarioError(str(exc)) from None
    try:
        return [derive_imei(first, index) for index in range(modules)]
    except ValueError as exc:
        raise ScenarioError(f"--modules {modules}: {exc}") from None


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def module_slices(imeis: Sequence[str], paths: Sequence[Path], workers: int) -> list[ModuleSlice]:
    """The modules in ``workers`` contiguous slices whose sizes differ by at most one."""
    modules = len(imeis)
    workers = max(1, min(workers, modules))
    size, extra = divmod(modules, workers)
    slices, first = [], 0
    for worker in range(workers):
        count = size + (1 if worker < extra else 0)
        slices.append(
            ModuleSlice(
                first=first,
                imeis=tuple(imeis[first : first + count]),
                transcripts=tuple(paths[first : first + count]),
            )
        )
        first += count
    return slices


SliceReport = Callable[[int, list[ModuleResult]], None]  # scenario index, the slice's results


async def run_slice(
    scenarios: Sequence[Scenario], options: RunOptions, part: ModuleSlice, report: SliceReport
) -> None:
    """Every scenario, one after the other, on the slice's modules at once (one event loop)."""
    runners = [
        Runner(dataclasses.replace(options, imei=imei, progress=None), Transcript(path))
        for imei, path in zip(part.imeis, part.transcripts, strict=True)
    ]
    try:
        for index, scenario in enumerate(scenarios):
            outcomes = await asyncio.gather(*(runner.run(scenario) for runner in runners))
            report(
                index,
                [
                    ModuleResult(
                        module=part.first + offset,
                        imei=part.imeis[offset],
                        transcript=part.transcripts[offset],
                        result=outcome,
                    )
                    for offset, outcome in enumerate(outcomes)
                ],
            )
    finally:
        for runner in runners:
            runner.transcript.close()


class _Merger:
    """Puts the slices' results in scenario, module order and says each scenario's outcome
    once every slice has reported it."""

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        slices: int,
        modules: int,
        say: Callable[[str], None] | None,
    ) -> None:
        self.scenarios = scenarios
        self.modules = modules
        self.say = say
        self._pending: list[dict[int, list[ModuleResult]]] = [{} for _ in scenarios]
        self._slices = slices
        self._next = 0  # the next scenario to report
        self.results: list[ModuleResult] = []

    def add(self, slice_index: int, scenario_index: int, results: list[ModuleResult]) -> None:
        scenario = self.scenarios[scenario_index]
        # A worker's results carry its own copy of the scenario: give back the caller's.
        self._pending[scenario_index][slice_index] = [
            dataclasses.replace(item, result=dataclasses.replace(item.result, scenario=scenario))
            for item in results
        ]
        while self._next < len(self.scenarios) and len(self._pending[self._next]) == self._slices:
            done = self._pending[self._next]
            merged = [item for index in sorted(done) for item in done[index]]
            self._pending[self._next] = {}
            self._said(self.scenarios[self._next], merged)
            self.results.extend(merged)
            self._next += 1

    def _said(self, scenario: Scenario, merged: list[ModuleResult]) -> None:
        if self.say is None:
            return
        self.say(f"▶ {scenario.display_name} on {self.modules} modules  ({scenario.source})")
        for item in merged:
            if item.result.outcome not in ("passed", "skipped"):
                self.say(f"  ✗ module {item.module} ({item.imei}): {item.result.message}")
        passed = sum(item.result.outcome == "passed" for item in merged)
        slowest = max(item.result.seconds for item in merged)
        self.say(f"  {passed}/{self.modules} modules passed (slowest {slowest:.2f} s)")


def run_on_modules(
    scenarios: Sequence[Scenario],
    options: RunOptions,
    transcript_path: Path,
    modules: int,
    say: Callable[[str], None] | None,
    *,
    workers: int | None = None,
) -> list[ModuleResult]:
    """Each scenario on ``modules`` modules at once, spread over ``workers`` processes (None:
    :func:`default_workers`); results in scenario, module order."""
    if options.port is not None:
        raise ScenarioError("--modules runs in-process modules: it cannot be used with --port")
    if not 1 <= modules <= MAX_MODULES:
        raise ScenarioError(f"--modules {modules} is not 1-{MAX_MODULES}")
    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers {workers} is not a positive number")
    imeis = module_imeis(options, scenarios, modules)
    paths = [module_transcript(transcript_path, index, modules) for index in range(modules)]
    slices = module_slices(imeis, paths, workers or default_workers())
    merger = _Merger(scenarios, len(slices), modules, say)
    # A worker gets no console callback: it could not call it across processes.
    options = dataclasses.replace(options, progress=None)
    if len(slices) == 1:
        asyncio.run(
            run_slice(scenarios, options, slices[0], lambda index, got: merger.add(0, index, got))
        )
    else:
        _run_in_workers(scenarios, options, slices, merger)
    return merger.results


def _run_in_workers(
    scenarios: Sequence[Scenario],
    options: RunOptions,
    slices: Sequence[ModuleSlice],
    merger: _Merger,
) -> None:
    # spawn, not fork: a fresh interpreter per worker, with no copy of this process's threads
    # or event loop state.
    context = multiprocessing.get_context("spawn")
    inbox: Any = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(index, list(scenarios), options, part, inbox),
            name=f"quecemu-scenario-worker-{index}",
            daemon=True,
        )
        for index, part in enumerate(slices)
    ]
    finished: set[int] = set()
    try:
        for worker in workers:
            worker.start()
        while len(finished) < len(workers):
            try:
                message = inbox.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                for index, worker in enumerate(workers):
                    if index not in finished and not worker.is_alive():
                        part = slices[index]
                        raise WorkerLost(
                            f"the worker of modules {part.first}-{part.last} ended "
                            f"unexpectedly (exit code {worker.exitcode})"
                        ) from None
                continue
            kind, index, *rest = message
            if kind == "results":
                merger.add(index, rest[0], rest[1])
            elif kind == "done":
                finished.add(index)
            else:
                part = slices[index]
                raise WorkerLost(
                    f"the worker of modules {part.first}-{part.last} failed: {rest[0]}"
                )
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        inbox.close()
        inbox.join_thread()


def _worker(
    index: int,
    scenarios: list[Scenario],
    options: RunOptions,
    part: ModuleSlice,
    outbox: Any,
) -> None:
    """A worker process: its slice's modules on an event loop of its own; each scenario's
    results go to ``outbox`` as the slice finishes it."""
    # Ctrl-C reaches the whole process group; the parent stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(
            run_slice(
                scenarios,
                options,
                part,
                lambda scenario, got: outbox.put(("results", index, scenario, got)),
            )
        )
    except BaseException as exc:  # a bug: its trace on stderr, its reason to the parent
        traceback.print_exc()
        outbox.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        return
    outbox.put(("done", index))
