"""``python -m emulator`` is the ``quecemu`` command."""

from emulator.cli import main

raise SystemExit(main())
