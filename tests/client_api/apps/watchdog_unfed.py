# mypy: ignore-errors
from machine import WDT

dog = WDT(1)
print("armed")
