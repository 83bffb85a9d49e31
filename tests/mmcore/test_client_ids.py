"""Client order ids: a live session's ids are recognisable as ours, and nothing else is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mmcore.client_ids import ClientIds, is_live_session_id
from mmcore.config import parse_config
from mmcore.session_ids import session_prefix, with_client_prefix

CONFIG = parse_config(
    '[session]\nvenue = "sim"\nmarkets = ["BTC-USD"]\n[strategy]\nname = "simple"\n'
    "[strategy.params]\nspread_bps = 2.0\nsize_lots = 100\n[risk]\nmax_position_lots = 1000\n"
)


@given(st.integers(min_value=0, max_value=2**63 - 1), st.integers(min_value=1, max_value=10**6))
def test_every_id_a_live_session_hands_out_is_recognised(now_ns: int, n: int) -> None:
    config = with_client_prefix(CONFIG, session_prefix(now_ns))
    for prefix in (config.orders.client_id_prefix, config.risk.client_id_prefix):
        ids = ClientIds(prefix)
        ids.issued = n - 1
        assert is_live_session_id(ids.next())


def test_ids_placed_by_hand_or_by_other_tools_are_not_ours() -> None:
    for other in ("manual-1", "mm-1", "mmABC-1", "mm1a2b-0", "mm1a2b-", "xmm1a2b-1",
                  "mm1a2b-1 ", "rk1a2b-01", "mm1a2b-1-2", "bot-mm1a2b-1", ""):
        assert not is_live_session_id(other), other
