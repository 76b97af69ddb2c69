"""A strict emulator of the parts of Procore and S3 that bulkimport uses.

Written from the API contract (shared/procore-api.md), never from the client's code, so that
a client bug fails loudly here instead of passing quietly.
"""

from __future__ import annotations

from .config import EmulatorConfig, Faults, RateLimits, Wan
from .seed import SeedError
from .server import RunningEmulator, serve

__all__ = ["EmulatorConfig", "Faults", "RateLimits", "RunningEmulator", "SeedError", "Wan", "serve"]
