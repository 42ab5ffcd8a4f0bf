"""An MQTT telemetry app in the style of QuecPython's umqtt examples: connect, subscribe to a
command topic, publish a reading, wait for a command and answer it, disconnect.

Usage (client_api run): mqtt_app.py <broker-host> <broker-port>
"""

import sys

import checkNet
import utime
from umqtt import MQTTClient

BROKER = sys.argv[1] if len(sys.argv) > 1 else "mqtt.example.com"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 1883
state = {"commands": 0}


def sub_cb(topic, msg):
    print("command", topic.decode(), msg.decode())
    state["commands"] += 1
    client.publish(b"dev/ack", b"done:" + msg, qos=1)


checkNet.waitNetworkReady(30)
client = MQTTClient("quec-dev-1", BROKER, port=PORT, keepalive=60)
client.set_callback(sub_cb)
client.set_last_will("dev/status", "offline", retain=False, qos=0)
client.connect()
client.subscribe(b"dev/cmd", qos=1)
client.publish("dev/telemetry", '{"temp": 21.5}', qos=1)
print("published")
while state["commands"] < 1:
    client.wait_msg()
client.check_msg()
client.ping()
utime.sleep_ms(10)
client.disconnect()
print("done")
