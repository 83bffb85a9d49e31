"""The simulated venue: our orders matched against recorded market data, in exchange time.

``SimVenue`` is the sink of a backtest (``submit``) and ``SimSource`` its source (an iterator of
market, account and timer events in receive-time order); a session of several markets runs on
``SimVenues`` (one ``SimVenue`` per market, each on its own clock; ``make_venue`` picks). Pure: no
I/O, no clock, randomness only from the ``random.Random`` the venue is given. Modules: ``config``
(``SimConfig``), ``venue`` (time model, command arrival), ``client_ids`` (the ids taken across
markets), ``matching`` (fill rules per instrument), ``queue`` (queue position models), ``latency``,
``fees``, ``funding``, ``outbox`` (stamping of outbound events), ``source`` (the merge), ``stats``
(``SimStats``), ``venues`` (``SimVenues``).
"""

from adapters.sim.config import SimConfig
from adapters.sim.errors import NotACommandError, NotMarketDataError
from adapters.sim.source import MarketStreams, SimSource
from adapters.sim.stats import SimStats
from adapters.sim.times import NEVER
from adapters.sim.venue import SimVenue
from adapters.sim.venues import SimVenues, make_venue

__all__ = [
    "NEVER",
    "MarketStreams",
    "NotACommandError",
    "NotMarketDataError",
    "SimConfig",
    "SimSource",
    "SimStats",
    "SimVenue",
    "SimVenues",
    "make_venue",
]
