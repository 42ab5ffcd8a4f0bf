# mypy: ignore-errors
import misc  # noqa: F401  QuecPython power/ADC module, not provided on the host

print("unreachable")
