# mypy: ignore-errors
# ruff: noqa: UP032  (QuecPython style: older MicroPython firmware has no f-strings)
import sys

import utime

print("args {}".format(sys.argv[1:]))
print("ticks ok {}".format(utime.ticks_diff(utime.ticks_ms(), utime.ticks_ms()) <= 0))
