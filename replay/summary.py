"""A session's outcome, folded again from its log: the one summary every command prints.

``summarize`` is the report's fold (``replay.timeline.fold_log``) and scorecard
(``replay.scorecard.score``) without the plots: fills, volume, position, PnL by part, drawdown,
Sharpe, round trips, uptime. It re-runs only the pure folds (books and ledger) over the recorded
events, never the strategy, so it describes exactly what happened in the recorded session.
"""

from __future__ import annotations

from mmcore.log import LogReader
from replay.scorecard import Scorecard, score
from replay.timeline import fold_log

__all__ = ["summarize"]


def summarize(reader: LogReader) -> Scorecard:
    """The scorecard of a recorded session (``.text()`` for the printed form)."""
    return score(fold_log(reader))
