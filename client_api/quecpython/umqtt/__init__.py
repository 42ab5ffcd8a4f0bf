"""QuecPython ``umqtt``: ``from umqtt import MQTTClient`` (the simple client), with
``umqtt.simple`` and ``umqtt.robust`` as on the device."""

from client_api.quecpython.umqtt import robust, simple
from client_api.quecpython.umqtt.simple import MQTTClient, MQTTException

__all__ = ["MQTTClient", "MQTTException", "robust", "simple"]
