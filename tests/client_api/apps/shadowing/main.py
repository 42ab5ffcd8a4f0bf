# mypy: ignore-errors
# An application that ships modules named like a QuecPython built-in (net.py) and like
# PC modules (serial.py, queue.py): QuecPython's net wins, its own serial/queue win.
import json
import queue
from json.codec import VERSION

import net
import serial
import ujson
from machine import UART
from serial import WHO

print("net is the built-in:", hasattr(net, "csqQueryPoll"))
print("serial:", serial.WHO)
print("queue:", queue.WHO)
print("from serial:", WHO)
print("json:", json.VERSION, "/", VERSION)
print("ujson still works:", ujson.dumps({"a": 1}))
uart = UART(UART.UART2, 115200, 8, 0, 1, 0)  # host code: pyserial's loop:// handler
uart.write(b"ping")
got = b""
while len(got) < 4:
    got += uart.read(4)
print("uart echo:", got)
