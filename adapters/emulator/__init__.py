"""The venue emulator framework every venue's local emulator is built on.

Modules: ``clock`` (wall or manual time), ``faults`` (``FaultSwitches``: drop sockets, skip a book
sequence number, fail or delay REST calls), ``random_walk`` (seeded generated market data),
``feed`` (market data re-timed to the emulator clock), ``levels`` (the public books),
``account`` and ``deadman`` (emulated accounts), ``exchange`` (``EmulatedExchange``: feed +
``adapters.sim`` matching + accounts), ``server`` (aiohttp: sockets, fault middleware, admin
routes, ticking) and ``handle`` (``EmulatorHandle``). A venue adds its wire format on top.
"""

from adapters.emulator.clock import ManualClock, WallClock
from adapters.emulator.exchange import EmulatedExchange
from adapters.emulator.faults import FaultSwitches
from adapters.emulator.handle import EmulatorHandle
from adapters.emulator.random_walk import RandomWalkParams, random_walk

__all__ = [
    "EmulatedExchange",
    "EmulatorHandle",
    "FaultSwitches",
    "ManualClock",
    "RandomWalkParams",
    "WallClock",
    "random_walk",
]
