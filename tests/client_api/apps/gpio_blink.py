# mypy: ignore-errors
from machine import Pin

led = Pin(Pin.GPIO10, Pin.OUT, Pin.PULL_DISABLE, 0)
for _ in range(3):
    led.write(1 - led.read())
