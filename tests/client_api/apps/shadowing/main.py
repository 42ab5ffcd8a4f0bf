# mypy: ignore-errors
# An application that ships modules named like a QuecPython built-in (net.py) and like
# PC modules (serial.py, queue.py): QuecPython's net wins, its own serial/queue win.
import queue

import net
import serial
from machine import UART

print("net is the built-in:", hasattr(net, "csqQueryPoll"))
print("serial:", serial.WHO)
print("queue:", queue.WHO)
uart = UART(UART.UART2, 115200, 8, 0, 1, 0)  # host code: pyserial's loop:// handler
uart.write(b"ping")
got = b""
while len(got) < 4:
    got += uart.read(4)
print("uart echo:", got)
