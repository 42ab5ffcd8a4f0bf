# mypy: ignore-errors
import audio  # noqa: F401  QuecPython audio module, not provided on the host

print("unreachable")
