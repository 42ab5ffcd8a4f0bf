"""AT+QSSLCFG, the SSL contexts the MQTT and HTTP(S) stacks use (Quectel "SSL Application
Note"): "sslversion", "ciphersuite", "seclevel", "cacert", "clientcert", "clientkey",
"ignorelocaltime", "negotiatetime", "sni". Certificates are files on the module's own
file system (:mod:`emulator.module.files`), named as ``"UFS:cacert.pem"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.module.files import FileNameError, files_for
from emulator.module.tls import ALL_CIPHERS, TlsRequest

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "ssl"
MAX_CTX = 5
NAMES = (
    "sslversion",
    "ciphersuite",
    "seclevel",
    "cacert",
    "clientcert",
    "clientkey",
    "ignorelocaltime",
    "negotiatetime",
    "sni",
)


@dataclass
class SslContextConfig:
    values: dict[str, int | str] = field(
        default_factory=lambda: {
            "sslversion": 4,
            "ciphersuite": ALL_CIPHERS,
            "seclevel": 0,
            "cacert": "",
            "clientcert": "",
            "clientkey": "",
            "ignorelocaltime": 1,
            "negotiatetime": 300,
            "sni": 0,
        }
    )


def contexts_for(module: VirtualModule) -> dict[int, SslContextConfig]:
    return module.component(COMPONENT, lambda: {i: SslContextConfig() for i in range(MAX_CTX + 1)})


def _render(name: str, value: int | str) -> str:
    if name == "ciphersuite":
        return f"0X{int(value):04X}"
    return f'"{value}"' if isinstance(value, str) else str(value)


def qsslcfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QSSLCFG="<name>",<ctx>[,<value>]``; without the value it reads."""
    args.count(2, 3)
    name = args.str(0, max_len=16, choices=NAMES, case_insensitive=True)
    index = args.int(1, 0, MAX_CTX)
    config = contexts_for(ctx.module)[index]
    if len(args) == 2:
        return [f'+QSSLCFG: "{name}",{index},{_render(name, config.values[name])}']
    value: int | str
    if name == "sslversion":
        value = args.int(2, 0, 4)
    elif name == "ciphersuite":
        value = args.int(2, 0, 0xFFFF)
    elif name == "seclevel":
        value = args.int(2, 0, 2)
    elif name in ("ignorelocaltime", "sni"):
        value = args.int(2, 0, 1)
    elif name == "negotiatetime":
        value = args.int(2, 10, 300)
    else:
        value = args.str(2, max_len=90)
        try:
            files_for(ctx.module).plain_name(value)
        except FileNameError as exc:
            raise IncorrectParameters(str(exc)) from None
    config.values[name] = value
    return None


def qsslcfg_test(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f'+QSSLCFG: "sslversion",(0-{MAX_CTX}),(0-4)',
        f'+QSSLCFG: "ciphersuite",(0-{MAX_CTX}),(0X0035,0X002F,0XC02F,0XC030,0XFFFF)',
        f'+QSSLCFG: "seclevel",(0-{MAX_CTX}),(0-2)',
        f'+QSSLCFG: "cacert",(0-{MAX_CTX}),<cacertpath>',
        f'+QSSLCFG: "clientcert",(0-{MAX_CTX}),<client_cert_path>',
        f'+QSSLCFG: "clientkey",(0-{MAX_CTX}),<client_key_path>',
        f'+QSSLCFG: "ignorelocaltime",(0-{MAX_CTX}),(0,1)',
        f'+QSSLCFG: "negotiatetime",(0-{MAX_CTX}),(10-300)',
        f'+QSSLCFG: "sni",(0-{MAX_CTX}),(0,1)',
    ]


def _file(module: VirtualModule, name: int | str) -> bytes | None:
    if not isinstance(name, str) or not name:
        return None
    files = files_for(module)
    try:
        return files.read(name) if files.exists(name) else None
    except (FileNameError, OSError):
        return None


def tls_request(module: VirtualModule, index: int, host: str) -> TlsRequest:
    """The SSL context ``index`` as a link opening now sees it (files read now)."""
    values = contexts_for(module)[index].values
    return TlsRequest(
        ctx=index,
        sslversion=int(values["sslversion"]),
        seclevel=int(values["seclevel"]),
        cacert=_file(module, values["cacert"]),
        clientcert=_file(module, values["clientcert"]),
        clientkey=_file(module, values["clientkey"]),
        ciphersuite=int(values["ciphersuite"]),
        sni=bool(values["sni"]),
    )


def register(registry: CommandRegistry) -> None:
    registry.add("+QSSLCFG", Form.WRITE, qsslcfg_write)
    registry.add("+QSSLCFG", Form.TEST, qsslcfg_test)
