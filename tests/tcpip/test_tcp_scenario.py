"""A scenario drives the module's sockets against its own TCP peer: the module names a
public host that the peer's map entry sends to loopback, the peer sends and the module
reads (+QIURC: "recv"), the module sends and the peer checks, the peer closes (+QIURC:
"closed"), and the network tears the PDP context down (+QIURC: "pdpdeact")."""

from __future__ import annotations

import textwrap
from pathlib import Path

from scenario_tool.cli import EXIT_FAILED, EXIT_OK, run_files

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "examples" / "tcp-at.yaml"

FAILING = """\
    name: tcp-peer-fails
    steps:
      - tcp_peer: listen
      - send: AT+QIACT=1
        expect: [OK]
      - send: AT+QIOPEN=1,0,"TCP","127.0.0.1",${tcp_peer_port},0,0
        expect: [OK]
      - urc: "+QIOPEN: 0,0"
      - send: AT+QISEND=0
        payload: "abc"
        expect: [SEND OK]
      - tcp_peer: expect
        data: "xyz"
        within: 1
"""


def run(tmp_path: Path, text: str) -> tuple[int, str]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(textwrap.dedent(text))
    lines: list[str] = []
    status = run_files([scenario], progress=lines.append, summary=lines.append, err=lines.append)
    return status, "\n".join(lines)


def test_a_scenario_drives_a_tcp_peer_and_checks_socket_urcs(tmp_path: Path) -> None:
    status, output = run(tmp_path, EXAMPLE.read_text())
    assert status == EXIT_OK, output
    assert "1 scenarios: 1 passed" in output


def test_what_the_peer_did_not_receive_fails_with_what_it_got(tmp_path: Path) -> None:
    status, output = run(tmp_path, FAILING)
    assert status == EXIT_FAILED, output
    assert "the TCP peer to receive b'xyz' within 1 s" in output
    assert "b'abc'" in output
