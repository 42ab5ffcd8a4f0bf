"""QuecPython's ``lwm2m`` API on a PC, over a Quectel module's AT port (real or emulated).

``client_api.open(port)`` names the port (device path or pyserial URL; default
``$QUECEMU_PORT``) and returns the process's shared :class:`AtChannel` for it;
``client_api.lwm2m()`` is QuecPython's ``lwm2m()``. ``python -m client_api run APP.py``
runs an unmodified QuecPython script against the port (see docs/client_api.md).
"""

import os as _os
import sys as _sys

# `python -m client_api` puts the current directory first on sys.path, before the PC's
# own modules: an application folder there holding its own serial.py or queue.py would
# stand in for pyserial's and the standard library's in this package. The directory
# moves to the end; the runtime gives the application its own modules first
# (client_api/quecpython/_appfiles.py).
if _sys.argv[:1] == ["-m"] and _sys.path and _sys.path[0] in ("", _os.getcwd()):
    _sys.path.append(_sys.path.pop(0))

from client_api import lwm2m as lwm2m
from client_api.channel import AtChannel as AtChannel
from client_api.channel import AtResponse as AtResponse
from client_api.errors import AtChannelError as AtChannelError
from client_api.errors import ChannelClosed as ChannelClosed
from client_api.errors import CmeError as CmeError
from client_api.errors import CommandError as CommandError
from client_api.errors import CommandTimeout as CommandTimeout
from client_api.errors import ModuleGone as ModuleGone
from client_api.errors import PortNotConfigured as PortNotConfigured
from client_api.ports import PORT_ENV as PORT_ENV
from client_api.ports import close_all as close_all
from client_api.ports import default_channel as default_channel
from client_api.ports import open_channel as open  # the issue names it open()

__all__ = [
    "PORT_ENV",
    "AtChannel",
    "AtChannelError",
    "AtResponse",
    "ChannelClosed",
    "CmeError",
    "CommandError",
    "CommandTimeout",
    "ModuleGone",
    "PortNotConfigured",
    "close_all",
    "default_channel",
    "lwm2m",
    "open",
]
