"""``python -m emulator`` is the ``quecemu`` command."""

from emulator.app.cli import main

raise SystemExit(main())
