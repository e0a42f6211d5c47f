"""What every Python driver of the compatibility suite prints: one JSON object a line.

See tests/compat/README.md for the format.
"""

import json
import sys
from importlib.metadata import version


def _line(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hello(client, *packages):
    """Names the client and the installed versions of `packages` (the first is the client's)."""
    _line({"client": client, "version": " + ".join(f"{p} {version(p)}" for p in packages)})


def event(type_, id_, data):
    _line({"type": type_, "id": id_, "data": data})


def status(kind, detail=""):
    _line({"status": kind, "detail": detail})
