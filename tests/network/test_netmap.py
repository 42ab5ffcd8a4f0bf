"""The virtual network map: names, destinations and the loopback-only policy."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from emulator.adapters.netmap import (
    DestinationRefused,
    HostNotFound,
    NetworkMap,
    NetworkMapError,
    Route,
    attach_network_map,
    network_map_of,
    parse_entry,
)
from emulator.module.profile import load_profile
from emulator.module.virtual import VirtualModule
from scenario_tool.errors import ScenarioFormatError
from scenario_tool.format import parse_scenario
from tests.transport.helpers import run_cli


def test_names_resolve_through_the_map_case_insensitively() -> None:
    net = NetworkMap.from_entries(["api.example.com=127.0.0.1", "*.iot.example.net=::1"])
    assert net.lookup("API.Example.COM.") == ("127.0.0.1",)
    assert net.lookup("dev7.iot.example.net") == ("::1",)
    assert net.lookup("a.b.iot.example.net") == ("::1",)
    assert net.lookup("203.0.113.9") == ("203.0.113.9",)
    assert net.lookup("[::1]") == ("::1",)
    assert net.lookup("localhost") == ("127.0.0.1",)


def test_an_unmapped_name_is_a_dns_failure_unless_external_traffic_is_allowed() -> None:
    with pytest.raises(HostNotFound, match="not in the network map"):
        NetworkMap().lookup("restapi.amap.com")
    with pytest.raises(HostNotFound):
        NetworkMap().lookup("")
    assert NetworkMap(allow_external=True).lookup("restapi.amap.com") is None


async def test_resolve_uses_the_map_without_the_pcs_resolver() -> None:
    net = NetworkMap.from_entries(["broker.example.com=127.0.0.5"])
    assert await net.resolve("broker.example.com") == "127.0.0.5"
    with pytest.raises(HostNotFound):
        await net.resolve("nothing.example.com")


async def test_with_external_traffic_the_pcs_resolver_answers_local_names() -> None:
    # "localhost." with the trailing dot is answered by the map's localhost rule; an
    # address the PC's resolver must find (its own hosts file) stays on loopback.
    net = NetworkMap(allow_external=True)
    assert await net.resolve("localhost") == "127.0.0.1"
    with pytest.raises(HostNotFound, match="no answer"):
        await net.resolve("no-such-host.invalid")  # RFC 6761 §6.4: never resolves


def test_destinations_are_mapped_by_address_or_by_the_name_the_app_gave() -> None:
    net = NetworkMap.from_entries(
        ["203.0.113.10:1883=127.0.0.1:18830", "api.example.com:80=127.0.0.1:8080"]
    )
    assert net.route("203.0.113.10", 1883) == Route("127.0.0.1", 18830, mapped=True)
    # a name known only as a destination resolves to an address of its own (RFC 2544
    # range) that routes back to the peer, with or without the name...
    assert net.lookup("api.example.com") == ("198.18.0.1",)
    assert net.route("198.18.0.1", 80) == Route("127.0.0.1", 8080, True)
    assert net.route("198.18.0.1", 80, name="api.example.com") == Route("127.0.0.1", 8080, True)
    # ...and only its mapped port goes anywhere
    with pytest.raises(DestinationRefused):
        net.route("198.18.0.1", 9)


def test_traffic_outside_loopback_is_refused_unless_allowed() -> None:
    assert NetworkMap().route("127.8.9.10", 7) == Route("127.8.9.10", 7, mapped=False)
    assert NetworkMap().route("::1", 7) == Route("::1", 7, mapped=False)
    with pytest.raises(DestinationRefused, match="outside loopback"):
        NetworkMap().route("203.0.113.10", 80)
    with pytest.raises(DestinationRefused, match="outside loopback"):
        NetworkMap().route("::ffff:203.0.113.10", 80)
    assert NetworkMap(allow_external=True).route("203.0.113.10", 80).address == "203.0.113.10"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("api.example.com", "is not NAME=ADDRESS"),
        ("api.example.com=", "is not NAME=ADDRESS"),
        ("api.example.com=nowhere", "is not an IPv4 or IPv6 address"),
        ("1.2.3.4=127.0.0.1", "an address is not renamed"),
        ("host:http=127.0.0.1:80", "is not 1-65535"),
        ("host:80=127.0.0.1", "is not HOST:PORT"),
        ("host:80=name:80", "is not an IPv4 or IPv6 address"),
        ("*.x.com:80=127.0.0.1:80", "cannot be a wildcard"),
        ("::1:80=127.0.0.1:80", "as [ADDRESS]:PORT"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(entry: str, reason: str) -> None:
    with pytest.raises(NetworkMapError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_entry(entry)


def test_ipv6_entries_use_brackets() -> None:
    net = NetworkMap.from_entries(["[2001:db8::1]:443=[::1]:8443"])
    assert net.route("2001:db8:0::1", 443) == Route("::1", 8443, mapped=True)


def test_later_sources_win_and_any_may_allow_external_traffic() -> None:
    base = NetworkMap.from_entries(["a.example=127.0.0.1", "b.example=127.0.0.2"])
    top = NetworkMap.from_entries(["a.example=127.0.0.3"], allow_external=True)
    merged = base.merged(top)
    assert merged.lookup("a.example") == ("127.0.0.3",)
    assert merged.lookup("b.example") == ("127.0.0.2",)
    assert merged.allow_external


def test_the_profile_section_is_the_modules_map_unless_one_is_attached(tmp_path: Path) -> None:
    profile_file = tmp_path / "mine.json"
    profile_file.write_text(
        json.dumps(
            {
                "extends": "EC200U",
                "network_map": {
                    "hosts": {"api.example.com": "127.0.0.1"},
                    "endpoints": {"203.0.113.10:1883": "127.0.0.1:18830"},
                },
            }
        )
    )
    module = VirtualModule(load_profile(str(profile_file)), now=0.0, boot=False)
    net = network_map_of(module)
    assert net.lookup("api.example.com") == ("127.0.0.1",)
    assert net.route("203.0.113.10", 1883).port == 18830
    attach_network_map(module, NetworkMap())
    with pytest.raises(HostNotFound):
        network_map_of(module).lookup("api.example.com")


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ([], "must be an object"),
        ({"host": {}}, "unknown key 'host'"),
        ({"hosts": {"a.example": 5}}, "must map strings to strings"),
        ({"hosts": {"a.example:80": "127.0.0.1:80"}}, "is not NAME -> ADDR"),
        ({"endpoints": {"a.example": "127.0.0.1"}}, "is not HOST:PORT -> ADDR:PORT"),
        ({"allow_external": "yes"}, "must be true or false"),
    ],
)
def test_a_bad_profile_section_is_named(section: object, reason: str) -> None:
    with pytest.raises(NetworkMapError, match=reason):
        NetworkMap.from_config(section, "p network_map")


def test_scenarios_carry_map_entries_and_refuse_bad_ones_with_the_line() -> None:
    scenario = parse_scenario(
        "name: x\nmodule:\n  map: [api.example.com=127.0.0.1, 'h:1=${peer}']\n"
        "  allow_external: true\nsteps:\n  - send: AT\n",
        "t.yaml",
    )
    assert scenario.network_map == ("api.example.com=127.0.0.1", "h:1=${peer}")
    assert scenario.allow_external
    with pytest.raises(ScenarioFormatError) as info:
        parse_scenario("name: x\nmodule:\n  map:\n    - nothing\nsteps:\n  - send: AT\n", "t.yaml")
    assert info.value.where.line == 4
    assert "is not NAME=ADDRESS" in info.value.reason


def test_serve_refuses_a_bad_map_entry_with_the_usage_line() -> None:
    result = run_cli("serve", "--map", "api.example.com=nowhere")
    assert result.returncode == 2
    assert "--map: map address for api.example.com 'nowhere' is not an IPv4" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_attaches_the_map_to_every_module() -> None:
    from emulator.app.serve import Emulator, ServeOptions

    emulator = Emulator(
        ServeOptions(count=2, network_map=("api.example.com=127.0.0.1",), allow_external=False)
    )
    emulator.prepare()
    for served in emulator.modules:
        net = network_map_of(served.host.module)
        assert net.lookup("api.example.com") == ("127.0.0.1",)
        assert not net.allow_external
    assert dataclasses.replace(emulator.options, allow_external=True).allow_external
