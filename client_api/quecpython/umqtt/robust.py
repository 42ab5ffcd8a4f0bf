"""QuecPython ``umqtt.robust``: ``MQTTClient`` that reconnects when the link is lost, as
MicroPython's umqtt.robust does (``reconnect``, retried ``publish`` and ``wait_msg``)."""

from __future__ import annotations

import time

from client_api.quecpython.umqtt import simple


class MQTTClient(simple.MQTTClient):
    DELAY = 2
    DEBUG = False

    def delay(self, i: int) -> None:
        time.sleep(self.DELAY)

    def log(self, in_reconnect: bool, e: Exception) -> None:
        if self.DEBUG:
            print(f"mqtt {'reconnect' if in_reconnect else ''}: {e!r}")

    def reconnect(self) -> int:
        i = 0
        while True:
            try:
                self.close()
                return self.connect(False)
            except simple.MQTTException as e:
                self.log(True, e)
                i += 1
                self.delay(i)

    def publish(self, topic, msg, retain=False, qos=0):  # type: ignore[no-untyped-def]
        while True:
            try:
                return super().publish(topic, msg, retain, qos)
            except simple.MQTTException as e:
                self.log(False, e)
            self.reconnect()

    def wait_msg(self) -> None:
        while True:
            try:
                return super().wait_msg()
            except simple.MQTTException as e:
                self.log(False, e)
            self.reconnect()

    def check_msg(self) -> None:
        try:
            return super().check_msg()
        except simple.MQTTException as e:
            self.log(False, e)
        self.reconnect()
        return None
