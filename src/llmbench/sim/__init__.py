"""The simulated OpenAI-compatible target: an aiohttp server with a known, logged timing.

It is the independent ground truth the measurements are tested against, so it imports nothing
from the rest of llmbench (an import-linter contract checks this).
"""

from llmbench.sim.server.config import SimConfig

__all__ = ["SimConfig"]
