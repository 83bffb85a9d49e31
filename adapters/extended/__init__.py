"""Extended (ex-X10) Starknet perpetuals: the venue adapter and its local emulator.

Modules: ``config`` (``ExtendedConfig``), ``credentials``, ``markets`` (endpoints, markets →
``Instrument``), ``wire`` and ``normalize`` (stream messages → events), ``tracker`` (order
lifecycle), ``signer``, ``rest``, ``execution``, ``reconcile``, ``stream`` (reconnecting
WebSocket), ``adapter`` (``ExtendedAdapter``); the emulator in ``emulator`` (``serve``),
``emulator_rest``, ``emulator_stream``, ``emulator_orders``, ``emulator_wire``; ``cli``.
"""

from adapters.extended.adapter import ExtendedAdapter
from adapters.extended.config import ExtendedConfig
from adapters.extended.emulator import serve

__all__ = ["ExtendedAdapter", "ExtendedConfig", "serve"]
