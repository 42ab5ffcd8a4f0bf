"""JUnit XML for CI systems: one ``<testcase>`` per scenario, the failing step as ``<failure>``.

The layout is the common denominator Jenkins, GitLab and GitHub reporters read: a
``<testsuites>`` root, one ``<testsuite>`` per run with tests/failures/errors/skipped/time
counts, ``<testcase classname name time>`` with ``<failure message type>``, ``<error>`` or
``<skipped>``, and ``<system-out>`` holding the transcript lines of that scenario.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator.at.redact import redact


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """What the JUnit report needs of one scenario run."""

    name: str  # the scenario's id
    title: str
    source: str  # the file
    outcome: str  # "passed", "failed", "error", "skipped"
    seconds: float
    message: str = ""  # failure/error/skip reason (one line)
    detail: str = ""  # longer text: expected, got, transcript line
    output: str = ""  # the scenario's transcript excerpt


def _clean(text: str) -> str:
    # XML 1.0 forbids most control characters even escaped; AT traffic may contain them.
    # A PSK quoted in a failure (an AT+QLWCFG="security" line) is masked like the transcript.
    text = redact(text)
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 32 else f"\\x{ord(ch):02x}" for ch in text)


def build(cases: Sequence[CaseResult], suite_name: str = "quecemu scenarios") -> ET.ElementTree:
    root = ET.Element("testsuites")
    failures = sum(c.outcome == "failed" for c in cases)
    errors = sum(c.outcome == "error" for c in cases)
    skipped = sum(c.outcome == "skipped" for c in cases)
    total = sum(c.seconds for c in cases)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": f"{total:.3f}",
    }
    root.attrib.update(name=suite_name, **counts)
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    for case in cases:
        element = ET.SubElement(
            suite,
            "testcase",
            # Reporters split classname at dots into package and class; scenario ids have dots
            # ("LightweightM2M-1.0-int-101"), so the class is the scenario's folder instead.
            classname=_clean(Path(case.source).parent.name.replace(".", "_") or "scenarios"),
            name=_clean(f"{case.name} {case.title}".strip()),
            file=case.source,
            time=f"{case.seconds:.3f}",
        )
        if case.outcome in ("failed", "error", "skipped"):
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[case.outcome]
            child = ET.SubElement(element, tag, message=_clean(case.message))
            if tag != "skipped":
                child.set("type", "ScenarioStepFailed" if tag == "failure" else "ScenarioError")
            if case.detail:
                child.text = _clean(case.detail)
        if case.output:
            ET.SubElement(element, "system-out").text = _clean(case.output)
    ET.indent(root)
    return ET.ElementTree(root)


def write(path: Path, cases: Sequence[CaseResult], suite_name: str = "quecemu scenarios") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    build(cases, suite_name).write(path, encoding="utf-8", xml_declaration=True)
