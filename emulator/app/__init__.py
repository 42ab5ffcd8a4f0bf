"""The application: what a user runs (``quecemu`` and its sub-commands, ``serve``, the
standalone server's CLI, the demo), built from the cores and adapters.
"""
