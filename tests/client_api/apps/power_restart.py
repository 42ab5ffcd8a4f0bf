# mypy: ignore-errors
from misc import Power

print("restarting")
Power.powerRestart()
print("unreachable: powerRestart does not return")
