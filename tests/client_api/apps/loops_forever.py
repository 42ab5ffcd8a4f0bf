# mypy: ignore-errors
import utime

print("looping")
while True:
    utime.sleep_ms(50)
