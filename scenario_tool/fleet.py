"""``quecemu scenario run --modules N``: every scenario on N in-process modules at once.

Module i has the IMEI at index i after the profile's (serial number + i, 3GPP TS 23.003 check
digit), so its endpoint name (``urn:imei:...``) is its own. Each module runs the scenario in
a session of its own: its own embedded server (or its own endpoint on a Leshan), fault relay
and transcript file, so a scenario that stops the server or drops datagrams disturbs only
its module. The scenarios run one after the other; within one, the N modules run together.
Results are per module: one JUnit test case per scenario and module.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from emulator.module.profile import ProfileError, load_profile
from emulator.module.state import derive_imei
from scenario_tool.errors import ScenarioError
from scenario_tool.format import Scenario
from scenario_tool.runner import Runner, RunOptions, ScenarioResult
from scenario_tool.transcript import Transcript

MAX_MODULES: Final = 1000


@dataclass(frozen=True, kw_only=True)
class ModuleResult:
    """One scenario on one module of a ``--modules`` run."""

    module: int
    imei: str
    transcript: Path
    result: ScenarioResult


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


async def run_on_modules(
    scenarios: Sequence[Scenario],
    options: RunOptions,
    transcript_path: Path,
    modules: int,
    say: Callable[[str], None] | None,
) -> list[ModuleResult]:
    """Each scenario on ``modules`` modules at once; results in scenario, module order."""
    if options.port is not None:
        raise ScenarioError("--modules runs in-process modules: it cannot be used with --port")
    if not 1 <= modules <= MAX_MODULES:
        raise ScenarioError(f"--modules {modules} is not 1-{MAX_MODULES}")
    imeis = module_imeis(options, scenarios, modules)
    paths = [module_transcript(transcript_path, index, modules) for index in range(modules)]
    runners = [
        Runner(
            dataclasses.replace(options, imei=imei, progress=None),
            Transcript(path),
        )
        for imei, path in zip(imeis, paths, strict=True)
    ]
    results: list[ModuleResult] = []
    try:
        for scenario in scenarios:
            if say is not None:
                say(f"▶ {scenario.display_name} on {modules} modules  ({scenario.source})")
            outcomes = await asyncio.gather(*(runner.run(scenario) for runner in runners))
            for index, outcome in enumerate(outcomes):
                results.append(
                    ModuleResult(
                        module=index, imei=imeis[index], transcript=paths[index], result=outcome
                    )
                )
                if say is not None and outcome.outcome not in ("passed", "skipped"):
                    say(f"  ✗ module {index} ({imeis[index]}): {outcome.message}")
            if say is not None:
                passed = sum(o.outcome == "passed" for o in outcomes)
                slowest = max(o.seconds for o in outcomes)
                say(f"  {passed}/{modules} modules passed (slowest {slowest:.2f} s)")
    finally:
        for runner in runners:
            runner.transcript.close()
    return results
