"""QuecPython ``ql_fs``: file helpers over the ``/usr`` sandbox.

As documented: ``path_exists`` (bool), ``path_dirname``, ``path_getsize`` (bytes; a
folder's is the total of its files), ``mkdirs`` (recursive, no error when it exists),
``rmdirs`` (the folder and everything in it), ``touch(file, data)`` (writes ``data`` as
JSON, creating the file and its folders; 0 or -1), ``read_json(file)`` (the parsed JSON;
the text for a file that is not JSON; None when it cannot be read), ``file_copy(dst,
src)`` (True). Paths outside ``/usr`` raise ``PermissionError`` naming the call.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from typing import Any

from client_api.quecpython._sandbox import SandboxError, current

FAILED = -1


def path_exists(file_path: str) -> bool:
    return current().host_path(file_path, "ql_fs.path_exists").exists()


def path_dirname(file_path: str) -> str:
    return posixpath.dirname(file_path)


def path_getsize(file_path: str) -> int:
    box = current()
    host = box.host_path(file_path, "ql_fs.path_getsize")
    try:
        if host.is_dir():
            return sum(p.stat().st_size for p in host.rglob("*") if p.is_file())
        return host.stat().st_size
    except OSError as exc:
        raise box.device_error(exc, box.device_path(file_path, "ql_fs.path_getsize")) from None


def mkdirs(dir_path: str) -> None:
    box = current()
    host = box.host_path(dir_path, "ql_fs.mkdirs")
    try:
        host.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise box.device_error(exc, box.device_path(dir_path, "ql_fs.mkdirs")) from None


def rmdirs(dir_path: str) -> None:
    box = current()
    host = box.host_path(dir_path, "ql_fs.rmdirs")
    if host == box.folder:
        raise SandboxError(13, "ql_fs.rmdirs: '/usr' itself cannot be removed")
    try:
        shutil.rmtree(host)
    except OSError as exc:
        raise box.device_error(exc, box.device_path(dir_path, "ql_fs.rmdirs")) from None


def touch(file: str, data: Any) -> int:
    host = current().host_path(file, "ql_fs.touch")
    try:
        text = json.dumps(data)
        host.parent.mkdir(parents=True, exist_ok=True)
        temporary = host.with_name(host.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, host)  # a reader never sees half a file
    except (OSError, TypeError, ValueError):
        return FAILED
    return 0


def read_json(file: str) -> Any:
    host = current().host_path(file, "ql_fs.read_json")
    try:
        text = host.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def file_copy(dst: str, src: str) -> bool:
    box = current()
    source = box.host_path(src, "ql_fs.file_copy")
    target = box.host_path(dst, "ql_fs.file_copy")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        raise box.device_error(exc, box.device_path(src, "ql_fs.file_copy")) from None
    return True
