"""``quecemu scenario``: run and check scenario files (a thin shell over ``runner``).

    quecemu scenario run FILE... [--server embedded | --server leshan URL]
                                 [--junit OUT.xml] [--transcript OUT] [--port HOST:PORT|DEVICE]
                                 [--modules N [--workers W]]
    quecemu scenario check FILE...

Exit status: 0 every scenario passed; 1 a scenario failed or could not run; 2 bad input (a
scenario file is refused, or bad arguments); 3 the server or emulator cannot be reached;
130 interrupted (Ctrl-C).
Errors are rendered here, once: ``file:line: reason`` for scenario files, one sentence for an
unreachable server or emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emulator.app.cli import positive_int
from emulator.at.redact import redact
from scenario_tool import junit as junit_report
from scenario_tool.errors import (
    DriverError,
    ScenarioError,
    ScenarioFormatError,
    Unreachable,
    WorkerLost,
)
from scenario_tool.format import Scenario, load_scenario, profile_problem
from scenario_tool.http import BaseUrl, request
from scenario_tool.runner import (
    Runner,
    RunOptions,
    ScenarioResult,
    transcript_default_path,
)
from scenario_tool.transcript import Transcript

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
LESHAN_ENV = "QUECEMU_LESHAN_URL"

DESCRIPTION = """\
Run LwM2M/AT scenarios (YAML, see docs/scenarios.md) against the embedded LwM2M server or a
Leshan, with the virtual module in this process (or an external one with --port). One line
per step (✓/✗), a transcript of every AT byte and CoAP exchange, optional JUnit XML; the exit
status is non-zero when a scenario fails.
"""

EPILOG = """\
examples:
  quecemu scenario run scenarios/conformance/*.yaml
  quecemu scenario run scenarios/conformance/*.yaml --server leshan http://127.0.0.1:8080 \\
      --leshan-bs http://127.0.0.1:8081
  quecemu scenario run my.yaml --junit out/junit.xml --transcript out/transcript.txt
  quecemu scenario run my.yaml --port 127.0.0.1:40001     (quecemu serve --tcp ... running)
  quecemu scenario check scenarios/*.yaml
"""


def add_subparser(subparsers: Any) -> None:
    """Hook for ``emulator.app.cli``: adds ``scenario run`` and ``scenario check``."""
    parser = subparsers.add_parser(
        "scenario",
        help="run or check LwM2M/AT scenario files",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        usage="quecemu scenario run FILE... [--server embedded | --server leshan URL]\n"
        "                            [--leshan-bs URL] [--leshan-coap-host HOST]"
        " [--leshan-api auto|1|2]\n"
        "                            [--port HOST:PORT|DEVICE [--keep-state]]"
        " [--profile NAME|FILE]\n"
        "                            [--no-relay] [--modules N [--workers W]]"
        " [--junit OUT.xml]\n"
        "                            [--transcript OUT] [--quiet]",
        help="run scenario files",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # "*" and checked in _run_command: FILEs written after "--server KIND [URL]" are taken
    # by that option's nargs, and are handed back from there.
    run.add_argument("files", nargs="*", type=Path, metavar="FILE")
    run.add_argument(
        "--server",
        nargs="+",
        default=["embedded"],
        metavar="KIND",
        help="embedded (default), or leshan URL (a Leshan demo server's web/REST base, e.g. "
        f"http://127.0.0.1:8080; default from ${LESHAN_ENV})",
    )
    run.add_argument("--leshan-bs", metavar="URL", help="Leshan bootstrap server's web/REST base")
    run.add_argument(
        "--leshan-coap-host",
        metavar="HOST",
        help="where Leshan's CoAP ports are reached (default: the URL's host)",
    )
    run.add_argument(
        "--leshan-api",
        choices=("auto", "1", "2"),
        default="auto",
        help="Leshan demo generation (default: find out)",
    )
    run.add_argument(
        "--port",
        metavar="HOST:PORT|DEVICE",
        help="drive an external emulator's AT port instead of an in-process module; before "
        "each scenario it is rebooted and given its factory settings (docs/scenarios.md)",
    )
    run.add_argument(
        "--keep-state",
        dest="reset_module",
        action="store_false",
        help="with --port: run each scenario on the module as it is (no reboot, no factory "
        "settings)",
    )
    run.add_argument("--profile", metavar="NAME|FILE", help="module profile for every scenario")
    run.add_argument(
        "--no-relay",
        dest="relay",
        action="store_false",
        help="let the module reach the server directly instead of through the fault relay "
        "(an emulator in a container, --port, with --leshan-coap-host leshan); scenarios "
        "that drop or delay datagrams are then skipped",
    )
    run.add_argument(
        "--modules",
        type=positive_int,
        default=1,
        metavar="N",
        help="run every scenario on N in-process modules at once (IMEIs counting up from the "
        "profile's; each its own server, relay and transcript OUT.mNNN); one JUnit case per "
        "scenario and module",
    )
    run.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help="with --modules: spread the modules over W worker processes, each with an event "
        "loop of its own (default: one per CPU; 1: all in this process)",
    )
    run.add_argument("--junit", type=Path, metavar="OUT.xml", help="write a JUnit XML report")
    run.add_argument(
        "--transcript",
        type=Path,
        metavar="OUT",
        help="transcript file (default: a new file in the temp directory)",
    )
    run.add_argument("--quiet", action="store_true", help="only the summary")
    run.set_defaults(func=_run_command)
    check = actions.add_parser("check", help="validate scenario files without running them")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=_check_command)


# --------------------------------------------------------------------------- check
def load_all(files: Sequence[Path], err: Callable[[str], None]) -> list[Scenario] | None:
    """Every file validated first; None (with each problem printed) if any is refused."""
    scenarios: list[Scenario] = []
    ok = True
    for path in files:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioFormatError as exc:
            err(f"{exc.where}: {exc.reason}")
            ok = False
    return scenarios if ok else None


def _check_command(args: argparse.Namespace) -> int:
    scenarios = load_all(args.files, _stderr)
    if scenarios is None:
        return EXIT_BAD_INPUT
    for scenario in scenarios:
        print(f"ok  {scenario.source}: {scenario.display_name} ({len(scenario.steps)} steps)")
    return EXIT_OK


# --------------------------------------------------------------------------- run
def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _stdout(text: str) -> None:
    print(text, flush=True)


def _server_choice(values: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """``--server`` values → (kind, URL, files that followed the option)."""
    kind, rest = values[0], list(values[1:])
    if kind == "embedded":
        if rest and rest[0].startswith(("http://", "https://")):
            raise ValueError("--server embedded takes no URL")
        return kind, None, rest
    if kind == "leshan":
        url = None
        if rest and rest[0].startswith(("http://", "https://")):
            url = rest.pop(0)
        url = url or os.environ.get(LESHAN_ENV)
        if not url:
            raise ValueError(f"--server leshan needs the Leshan URL (or ${LESHAN_ENV})")
        BaseUrl.parse(url)
        return kind, url, rest
    raise ValueError(f"--server is embedded or leshan, not {kind!r}")


async def preflight(options: RunOptions) -> None:
    """One clear message up front instead of every scenario failing the same way."""
    if options.server == "leshan" and options.leshan_url:
        urls = [("Leshan", options.leshan_url)]
        if options.leshan_bootstrap_url:
            urls.append(("the Leshan bootstrap server", options.leshan_bootstrap_url))
        for what, url in urls:
            try:
                await request(BaseUrl.parse(url), "GET", "/", timeout=5.0)
            except Unreachable as exc:
                raise Unreachable(f"{what} {exc}") from None
            except DriverError:
                pass  # it answered, if oddly: the driver will say more
    if options.port is not None:
        from scenario_tool.atlink import ExternalPort

        port = ExternalPort(options.port)
        await port.open()
        await port.close()


def _redacted(write: Callable[[str], None]) -> Callable[[str], None]:
    return lambda text: write(redact(text))


def run_files(
    files: Sequence[Path],
    *,
    server: str = "embedded",
    leshan_url: str | None = None,
    leshan_bootstrap_url: str | None = None,
    leshan_coap_host: str | None = None,
    leshan_api: str = "auto",
    port: str | None = None,
    profile: str | None = None,
    relay: bool = True,
    reset_module: bool = True,
    modules: int = 1,
    workers: int | None = None,
    junit: Path | None = None,
    transcript: Path | None = None,
    progress: Callable[[str], None] | None = _stdout,
    summary: Callable[[str], None] = _stdout,
    err: Callable[[str], None] = _stderr,
) -> int:
    """Validate, run and report ``files``; the exit status (``make demo`` calls this).

    ``progress`` gets one line per step (None: quiet), ``summary`` the closing lines.
    """
    scenarios = load_all(files, err)
    if scenarios is None:
        return EXIT_BAD_INPUT
    # A PSK in a step's AT text or in a failure quoting it is masked on the console too.
    if progress is not None:
        progress = _redacted(progress)
    summary, err = _redacted(summary), _redacted(err)
    options = RunOptions(
        server=server,
        leshan_url=leshan_url,
        leshan_bootstrap_url=leshan_bootstrap_url,
        leshan_coap_host=leshan_coap_host,
        leshan_api=leshan_api,
        port=port,
        profile=profile,
        relay=relay,
        reset_module=reset_module,
        progress=progress,
    )
    transcript_path = transcript or transcript_default_path()
    if modules > 1:
        return _run_on_modules(
            scenarios, options, transcript_path, modules, workers, junit, summary, err
        )
    try:
        results = asyncio.run(_run(scenarios, options, transcript_path))
    except Unreachable as exc:
        err(f"quecemu scenario: {exc}")
        return EXIT_UNREACHABLE
    report = summary
    passed = sum(r.outcome == "passed" for r in results)
    failed = sum(r.outcome == "failed" for r in results)
    errors = sum(r.outcome == "error" for r in results)
    skipped = sum(r.outcome == "skipped" for r in results)
    seconds = sum(r.seconds for r in results)
    report("")
    for result in results:
        mark = {"passed": "✓", "skipped": "-"}.get(result.outcome, "✗")
        note = f"  ({result.message})" if result.outcome == "skipped" else ""
        report(
            f"{mark} {result.outcome:<7} {result.seconds:6.2f} s  "
            f"{result.scenario.display_name}{note}"
        )
    report(
        f"{len(results)} scenarios: {passed} passed, {failed} failed, {errors} errors, "
        f"{skipped} skipped in {seconds:.1f} s"
    )
    report(f"transcript: {transcript_path}")
    if junit is not None:
        transcripts = _TranscriptLines()
        junit_report.write(junit, [_case(r, transcript_path, transcripts) for r in results])
        report(f"junit: {junit}")
    return EXIT_OK if passed + skipped == len(results) else EXIT_FAILED


async def _run(
    scenarios: Sequence[Scenario], options: RunOptions, transcript_path: Path
) -> list[ScenarioResult]:
    await preflight(options)
    transcript = Transcript(transcript_path)
    try:
        transcript.heading(
            f"# quecemu scenario run, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"{len(scenarios)} scenario(s) against {options.server}"
            + (f" {options.leshan_url}" if options.leshan_url else "")
        )
        runner = Runner(options, transcript)
        return await runner.run_all(scenarios)
    finally:
        transcript.close()


def _run_on_modules(
    scenarios: Sequence[Scenario],
    options: RunOptions,
    transcript_path: Path,
    modules: int,
    workers: int | None,
    junit: Path | None,
    report: Callable[[str], None],
    err: Callable[[str], None],
) -> int:
    """``--modules N``: the summary per scenario, one JUnit case per scenario and module."""
    from scenario_tool.fleet import module_transcript, run_on_modules

    if options.port is not None:
        err("quecemu scenario run: --modules runs in-process modules; it cannot take --port")
        return EXIT_BAD_INPUT

    started = time.monotonic()
    try:
        asyncio.run(preflight(options))
        results = run_on_modules(
            scenarios, options, transcript_path, modules, options.progress, workers=workers
        )
    except Unreachable as exc:
        err(f"quecemu scenario: {exc}")
        return EXIT_UNREACHABLE
    except WorkerLost as exc:  # the run could not complete: "could not run", not bad input
        err(f"quecemu scenario run: {exc}")
        return EXIT_FAILED
    except ScenarioError as exc:
        err(f"quecemu scenario run: {exc}")
        return EXIT_BAD_INPUT
    wall = time.monotonic() - started
    report("")
    for scenario in scenarios:
        mine = [r for r in results if r.result.scenario is scenario]
        passed = sum(r.result.outcome == "passed" for r in mine)
        skipped = sum(r.result.outcome == "skipped" for r in mine)
        mark = "✓" if passed + skipped == len(mine) else "✗"
        report(
            f"{mark} {passed}/{len(mine)} modules passed"
            + (f", {skipped} skipped" if skipped else "")
            + f"  {scenario.display_name}"
        )
    counts = {
        outcome: sum(r.result.outcome == outcome for r in results)
        for outcome in ("passed", "failed", "error", "skipped")
    }
    report(
        f"{len(scenarios)} scenarios x {modules} modules: {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped "
        f"in {wall:.1f} s"
    )
    first, last = (
        module_transcript(transcript_path, 0, modules),
        module_transcript(transcript_path, modules - 1, modules),
    )
    report(f"transcripts: {first} .. {last.name}")
    if junit is not None:
        cases, transcripts = [], _TranscriptLines()
        for item in results:
            case = _case(item.result, item.transcript, transcripts)
            cases.append(
                dataclasses.replace(case, name=f"{case.name} [module {item.module} {item.imei}]")
            )
        junit_report.write(junit, cases)
        report(f"junit: {junit}")
    return EXIT_OK if counts["passed"] + counts["skipped"] == len(results) else EXIT_FAILED


class _TranscriptLines:
    """Each transcript read once for a whole JUnit file (every scenario's case quotes its
    part: 1,000 modules x 20 scenarios would otherwise read 20,000 files of ~100 KB)."""

    def __init__(self) -> None:
        self._read: dict[Path, list[str]] = {}

    def __call__(self, path: Path) -> list[str]:
        lines = self._read.get(path)
        if lines is None:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                lines = []
            self._read[path] = lines
        return lines


def _case(
    result: ScenarioResult, transcript_path: Path, transcripts: _TranscriptLines
) -> junit_report.CaseResult:
    lines = transcripts(transcript_path)[result.first_line - 1 : result.last_line]
    return junit_report.CaseResult(
        name=result.scenario.name,
        title=result.scenario.title,
        source=result.scenario.source,
        outcome=result.outcome,
        seconds=result.seconds,
        message=result.message,
        detail=result.detail,
        output="\n".join(lines),
    )


def _run_command(args: argparse.Namespace) -> int:
    try:
        server, url, more_files = _server_choice(args.server)
        if args.leshan_bs:
            BaseUrl.parse(args.leshan_bs)
        files = [*args.files, *(Path(name) for name in more_files)]
        if not files:
            raise ValueError("give at least one scenario FILE")
        if args.workers is not None and args.modules == 1:
            raise ValueError("--workers spreads the modules of --modules N over processes")
        if args.profile is not None and (problem := profile_problem(args.profile)):
            raise ValueError(f"--profile: {problem}")
    except ValueError as exc:
        _stderr(f"quecemu scenario run: {exc}")
        return EXIT_BAD_INPUT
    try:
        return run_files(
            files,
            server=server,
            leshan_url=url,
            leshan_bootstrap_url=args.leshan_bs,
            leshan_coap_host=args.leshan_coap_host,
            leshan_api=args.leshan_api,
            port=args.port,
            profile=args.profile,
            relay=args.relay,
            reset_module=args.reset_module,
            modules=args.modules,
            workers=args.workers,
            junit=args.junit,
            transcript=args.transcript,
            progress=None if args.quiet else _stdout,
        )
    except KeyboardInterrupt:
        # Ctrl-C: the run stops where it is (the transcripts keep what happened so far, the
        # workers of --modules are stopped by the run itself), without a Python trace.
        _stderr("quecemu scenario run: interrupted")
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scenario_tool.cli run ...`` works without the main CLI."""
    parser = argparse.ArgumentParser(prog="quecemu")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_subparser(subparsers)
    args = parser.parse_args(["scenario", *(argv if argv is not None else sys.argv[1:])])
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
