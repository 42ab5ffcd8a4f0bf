"""QuecPython ``sys_bus``: an in-process publish/subscribe bus.

``subscribe(topic, handler)`` registers ``handler(topic, msg)`` for a topic (a string or
an integer); ``publish(topic, msg)`` calls every handler of the topic, each on a thread
of its own (the document: "process the message with multithreading"; the threads are
``_thread`` threads, so the run waits for them); ``publish_sync`` calls them one after
the other in the caller's thread. ``unsubscribe(topic[, cb])`` drops the topic or one
handler (True, or False when there was nothing to drop); ``sub_table([topic])`` shows
the registry (a dict of topic -> set of handlers, or one topic's set).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from client_api.quecpython import _host, qthread

Topic = str | int
Handler = Callable[[Topic, object], object]

_table: dict[Topic, set[Handler]] = {}
_lock = threading.Lock()


def _check_topic(topic: object) -> Topic:
    if isinstance(topic, bool) or not isinstance(topic, str | int):
        raise TypeError(f"sys_bus topic must be a string or an integer, got {topic!r}")
    return topic


def subscribe(topic: Topic, handler: Handler) -> None:
    key = _check_topic(topic)
    if not callable(handler):
        raise TypeError("sys_bus handler must be callable")
    with _lock:
        _table.setdefault(key, set()).add(handler)


def _handlers(topic: Topic) -> list[Handler]:
    with _lock:
        return list(_table.get(_check_topic(topic), ()))


def publish(topic: Topic, msg: object) -> None:
    for handler in _handlers(topic):
        qthread.start_new_thread(_host.run_callback, ("sys_bus", handler, topic, msg))


def publish_sync(topic: Topic, msg: object) -> None:
    for handler in _handlers(topic):
        _host.run_callback("sys_bus", handler, topic, msg)


def unsubscribe(topic: Topic, cb: Handler | None = None) -> bool:
    key = _check_topic(topic)
    with _lock:
        handlers = _table.get(key)
        if handlers is None:
            return False
        if cb is None:
            del _table[key]
            return True
        if cb not in handlers:
            return False
        handlers.discard(cb)
        if not handlers:
            del _table[key]
        return True


def sub_table(topic: Topic | None = None) -> dict[Topic, set[Handler]] | set[Handler]:
    with _lock:
        if topic is None:
            return {key: set(handlers) for key, handlers in _table.items()}
        return set(_table.get(_check_topic(topic), ()))


def clear() -> None:
    """Forget every subscription (the runtime does this when a run ends)."""
    with _lock:
        _table.clear()
