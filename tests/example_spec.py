"""The instrument of the BTC-USD data the example configs (``configs/strategy-*.toml``) are run
on in tests: those configs give no ``[[instruments]]`` entry, the data's header does."""

from __future__ import annotations

from mmcore.instrument import Instrument

BTC_USD = Instrument(
    venue="sim", symbol="BTC-USD", tick_size="0.1", lot_size="0.001", min_size="0.001"
)
