"""The module's file commands (Quectel "FILE Application Note"): AT+QFUPL (upload through
``CONNECT``), AT+QFLST, AT+QFDEL, over :mod:`emulator.module.files`.

Error codes are the FILE AN's ``+CME ERROR: 4xx`` codes (the FILE_ERRORS table).
"""

from __future__ import annotations

from emulator.at.errors import CmeError
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, DataInput, Response
from emulator.commands.context import CommandContext
from emulator.module.files import FileNameError, files_for

FILE_ERRORS = {
    "invalid_input": 400,
    "not_found": 405,
    "invalid_name": 406,
    "exists": 407,
    "write_failed": 409,
    "timeout": 421,
    "too_large": 423,
}
MAX_UPLOAD = 10 * 1024 * 1024  # bytes in one AT+QFUPL
UFS_SIZE = 16 * 1024 * 1024  # the user area the profile-less default offers


def file_error(kind: str, reason: str = "") -> CmeError:
    return CmeError(reason or kind, code=FILE_ERRORS[kind])


def checksum(data: bytes) -> int:
    """+QFUPL's <checksum>: XOR of the data taken as big-endian 16-bit words (FILE AN)."""
    value = 0
    for i in range(0, len(data) - 1, 2):
        value ^= (data[i] << 8) | data[i + 1]
    if len(data) % 2:
        value ^= data[-1] << 8
    return value


def qfupl_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QFUPL="<name>"[,<file_size>[,<timeout>]]`` → CONNECT, <file_size> bytes,
    ``+QFUPL: <size>,<checksum>`` OK."""
    args.count(1, 4)
    files = files_for(ctx.module)
    try:
        name = files.plain_name(args.str(0, max_len=90))
    except FileNameError as exc:
        raise file_error("invalid_name", str(exc)) from None
    size = args.int(1, 1, MAX_UPLOAD, default=MAX_UPLOAD)
    timeout = args.int(2, 1, 65535, default=5)
    if files.exists(name):
        raise file_error("exists")
    if files.used_bytes() + size > UFS_SIZE and args.present(1):
        raise file_error("too_large", "no room on UFS")

    def on_data(data: bytes, now: float) -> Response:
        try:
            files.write(name, data)
        except OSError as exc:
            raise file_error("write_failed", str(exc)) from None
        return Response(lines=[f"+QFUPL: {len(data)},{checksum(data):x}"])

    def on_timeout(data: bytes, now: float) -> Response:
        if not args.present(1) and data:  # no size given: the upload ends when data stops
            return on_data(data, now)
        raise file_error("timeout")

    return Response(
        final=None,
        data_input=DataInput(
            prompt=b"\r\nCONNECT\r\n",
            length=size if args.present(1) else None,
            on_data=on_data,
            on_timeout=on_timeout,
            timeout=float(timeout),
            max_length=MAX_UPLOAD,
        ),
    )


def qflst_exec(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QFLST: "UFS:{name}",{size}' for name, size in files_for(ctx.module).listing()]


def qflst_write(ctx: CommandContext, args: Args) -> list[str]:
    args.count(1)
    pattern = args.str(0, max_len=90)
    wanted = pattern.split(":", 1)[1] if ":" in pattern else pattern
    lines = []
    for name, size in files_for(ctx.module).listing():
        if wanted in ("*", name):
            lines.append(f'+QFLST: "UFS:{name}",{size}')
    return lines


def qfdel_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    files = files_for(ctx.module)
    name = args.str(0, max_len=90)
    if name.split(":", 1)[-1] == "*":
        for each, _ in files.listing():
            files.delete(each)
        return
    try:
        if not files.delete(name):
            raise file_error("not_found")
    except FileNameError as exc:
        raise file_error("invalid_name", str(exc)) from None


def register(registry: CommandRegistry) -> None:
    registry.add("+QFUPL", Form.WRITE, qfupl_write)
    registry.add("+QFLST", Form.EXEC, qflst_exec)
    registry.add("+QFLST", Form.WRITE, qflst_write)
    registry.add("+QFDEL", Form.WRITE, qfdel_write)
