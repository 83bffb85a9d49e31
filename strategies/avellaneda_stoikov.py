"""Avellaneda–Stoikov market making with selectable spread models and an OBI overlay.

Per requote (see ``strategies.spread_models`` for the formulas and units):

- ``q`` = position notional at mid / ``max_position_usd`` (signed; 1 = at the maximum long);
- ``sigma`` = the EWMA volatility (``estimators.volatility``) times mid, in price per sqrt(s);
- ``kappa`` from ``estimators.kappa_tracker`` (1/price), ``tau = T - t`` from ``horizon``;
- ``spread_model = "as"``: fair = ``mid - q*gamma*sigma²*tau``, half = ``ln(1+gamma/kappa)/gamma
  + gamma*sigma²*tau/2``; ``"linear"``: half = ``mid*(linear_base_bps/1e4 + linear_sigma_mult *
  sigma_rel + linear_funding_mult * funding/3)``, fair = ``mid*(1 - q*linear_inventory_k)``;
  ``"bounded"``: half = ``max(min_half, 0.4*market_spread + bounded_sigma_mult*sigma)``, times
  ``1+|q|`` when ``|q| > 0.5``, fair as in "as";
- the half spread is then clamped to [``min_half_spread_bps``, ``max_half_spread_bps``] of mid;
- OBI overlay (``obi.weight > 0``): fair -= ``weight * obi * 2 * half``;
- skew bound (``max_skew_bps > 0``): fair is clamped to mid ± ``max_skew_bps`` of mid, so a large
  sigma, gamma or inventory can never push the quotes far from the market (a
  ``StrategyEvent`` "skew_capped" says when the bound starts and stops biting);
- sizes: ``order_notional_usd`` at mid in whole lots (or ``size_lots``), shrunk by
  ``max(0, 1 - |q|)`` on the side that adds inventory; ``levels`` per side ``level_spacing_bps``
  apart; bids rounded down, asks up, never through the opposite best; each side's levels
  together hold at most the room left before ``max_position_usd`` in its direction (best level
  first).

It samples volatility and refits kappa on their own time grids, and requotes only when mid
drifts more than ``requote_bps``, when the book moves through a quote, when the position
changes, when funding changes (linear model) or every ``requote_interval_ms``; an unchanged
target returns ``None``. Until volatility is warm it quotes ``warmup_half_spread_bps`` around
mid, or nothing when that is 0.
"""

from __future__ import annotations

import math
import random
from typing import Literal, cast

import msgspec

from mmcore.book import Book
from mmcore.commands import Output
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    FundingRate,
    Position,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.intents import Intent, QuoteTarget
from mmcore.view import View
from strategies.estimators.imbalance import ImbalanceParams, ImbalanceSignal, ImbalanceStats
from strategies.estimators.kappa import KappaParams
from strategies.estimators.kappa_tracker import KappaStats, KappaTracker
from strategies.estimators.volatility import EwmaVolatility, VolatilityParams, VolatilityStats
from strategies.inventory import InventoryParams
from strategies.notes import Notes
from strategies.quote_grid import (
    Levels,
    ask_levels,
    bid_levels,
    cap_to_limit,
    notional_lots,
    skewed_size,
)
from strategies.spread_models import (
    as_half_spread,
    as_reservation,
    bounded_half_spread,
    horizon_left_s,
    linear_fair,
    linear_half_spread,
)

__all__ = ["ASStats", "AvellanedaStoikovParams", "AvellanedaStoikovStrategy"]


class AvellanedaStoikovParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the Avellaneda–Stoikov quoter (``name = "avellaneda_stoikov"``).

    gamma: risk aversion, 1/price per unit of q; default 0.1.
    horizon: "infinite" (tau = horizon_s always) or "finite" (tau = seconds left in the current
        session of horizon_s, sessions aligned on the Unix epoch); default "infinite".
    horizon_s: T, seconds; default 60.
    spread_model: "as", "linear" or "bounded"; default "as".
    min_half_spread_bps: least half spread, bps of mid (all models); default 1.
    max_half_spread_bps: largest half spread, bps of mid (all models); default 200.
    max_skew_bps: largest distance of fair (reservation price after the OBI overlay) from mid,
        bps of mid (all models); 0 = unbounded; default 0.
    linear_base_bps: "linear" base half spread, bps of mid; default 5.
    linear_sigma_mult: "linear" alpha, half-spread fraction per unit of sigma_rel
        (return per sqrt(s)); default 0.
    linear_funding_mult: "linear" beta, on funding (fraction per interval) / 3; default 0.
    linear_inventory_k: "linear" fair moves by this fraction of mid per unit of q, against the
        position; default 0.0005.
    bounded_sigma_mult: "bounded" multiplier of sigma (price per sqrt(s)); default 2.
    size_lots: order size per level in lots when order_notional_usd is 0; default 1.
    order_notional_usd: order size per level in quote currency, converted to whole lots at
        mid; 0 = use size_lots; default 0.
    max_position_usd: position notional at which q = 1 (and the adding side's size is 0); a
        side's levels together never take the position past it either way; default 1000.
    levels: quote levels per side; default 1.
    level_spacing_bps: distance between levels, bps of mid; default 5.
    requote_bps: mid drift, bps, that triggers a requote; default 2.
    requote_interval_ms: requote at least this often (event time) to follow the estimators;
        0 = only on drift or fills; default 1000.
    warmup_half_spread_bps: half spread quoted around mid until volatility is warm; 0 = do not
        quote until warm; default 0.
    volatility: ``VolatilityParams`` table. kappa: ``KappaParams`` table. obi:
        ``ImbalanceParams`` table (overlay off unless obi.weight > 0).
    inventory: ``InventoryParams`` table; present = inventory state machine on; default absent.
    """

    gamma: float = 0.1
    horizon: Literal["infinite", "finite"] = "infinite"
    horizon_s: float = 60.0
    spread_model: Literal["as", "linear", "bounded"] = "as"
    min_half_spread_bps: float = 1.0
    max_half_spread_bps: float = 200.0
    max_skew_bps: float = 0.0
    linear_base_bps: float = 5.0
    linear_sigma_mult: float = 0.0
    linear_funding_mult: float = 0.0
    linear_inventory_k: float = 0.0005
    bounded_sigma_mult: float = 2.0
    size_lots: int = 1
    order_notional_usd: float = 0.0
    max_position_usd: float = 1000.0
    levels: int = 1
    level_spacing_bps: float = 5.0
    requote_bps: float = 2.0
    requote_interval_ms: int = 1000
    warmup_half_spread_bps: float = 0.0
    volatility: VolatilityParams = VolatilityParams()
    kappa: KappaParams = KappaParams()
    obi: ImbalanceParams = ImbalanceParams()
    inventory: InventoryParams | None = None

    def __post_init__(self) -> None:
        positive = ("gamma", "horizon_s", "min_half_spread_bps", "max_position_usd")
        for name in positive:
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number > 0, found {value}")
        non_negative = (
            "max_skew_bps",
            "linear_base_bps",
            "linear_sigma_mult",
            "linear_inventory_k",
            "bounded_sigma_mult",
            "order_notional_usd",
            "level_spacing_bps",
            "requote_bps",
            "warmup_half_spread_bps",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number >= 0, found {value}")
        if not math.isfinite(self.linear_funding_mult):
            raise ValueError(
                f"linear_funding_mult: expected a finite number, found {self.linear_funding_mult}"
            )
        for name in ("min_half_spread_bps", "warmup_half_spread_bps"):
            if not getattr(self, name) < 10000:  # at 10,000 bps the bid is at 0: never a bid
                raise ValueError(f"{name}: expected < 10000, found {getattr(self, name)}")
        if not self.max_half_spread_bps >= self.min_half_spread_bps:
            raise ValueError(
                f"max_half_spread_bps: expected >= min_half_spread_bps "
                f"({self.min_half_spread_bps}), found {self.max_half_spread_bps}"
            )
        if self.size_lots < 1:
            raise ValueError(f"size_lots: expected >= 1, found {self.size_lots}")
        if self.levels < 1:
            raise ValueError(f"levels: expected >= 1, found {self.levels}")
        if self.levels > 1 and not self.level_spacing_bps > 0:
            raise ValueError(
                f"level_spacing_bps: expected > 0 with levels > 1, found {self.level_spacing_bps}"
            )
        if self.requote_interval_ms < 0:
            raise ValueError(
                f"requote_interval_ms: expected >= 0, found {self.requote_interval_ms}"
            )


class ASStats(msgspec.Struct, frozen=True):
    """mode: "waiting", "warmup", "quoting" or "pulled". requotes: targets returned.
    fair/half_spread: last quoted, price units. q: last inventory ratio. sigma: per sqrt(s),
    return units. Plus the estimators' own statistics."""

    mode: str
    requotes: int
    fair: float
    half_spread: float
    q: float
    volatility: VolatilityStats
    kappa: KappaStats
    obi: ImbalanceStats


_NO_NOTES: list[Output] = []
"""Shared and never appended to: the engine only concatenates the lists strategies return."""

_NO_ASK = 1 << 63
"""Stands for "no ask quoted" in the fast path's test: above every best bid."""

_WAITING = "waiting"
_WARMUP = "warmup"
_QUOTING = "quoting"
_PULLED = "pulled"


class AvellanedaStoikovStrategy:
    """Avellaneda–Stoikov quotes with estimators sampled on time grids."""

    def __init__(
        self, inst: Instrument, params: AvellanedaStoikovParams, rng: random.Random
    ) -> None:
        self.inst = inst.symbol
        self.params = params
        self._rng = rng  # unused: the strategy is deterministic given its events
        self._tick = float(inst.tick)
        self._lot = float(inst.lot)
        self._unit = inst.nanos_per_tick_lot
        self._min_lots = inst.min_lots
        self._vol = EwmaVolatility(params.volatility)
        self._kappa = KappaTracker(params.kappa, self._tick)
        self._obi = ImbalanceSignal(params.obi)
        self._notes = Notes(self.inst)
        self._finite = params.horizon == "finite"
        self._drift = params.requote_bps / 10000.0
        self._interval = params.requote_interval_ms * 1_000_000 or 1 << 62
        self._funding = 0.0
        self._quoted_mid_x2 = 0
        self._drift_x2 = 0.0
        self._calm = False  # quotes stand and nothing is due before _wake: the fast path
        self._wake = 0
        # What the fast path compares with, set with _calm: the mid_x2 band that is no drift
        # (integer bounds), and our top ask or _NO_ASK.
        self._calm_lo = 0
        self._calm_hi = 0
        self._calm_ask = _NO_ASK
        self._top_bid = 0
        self._top_ask = 0
        self._due = 0
        self._dirty = True
        self._mode = _WAITING
        self._last: QuoteTarget | None = None
        self._requotes = 0
        self._fair = 0.0
        self._half = 0.0
        self._q = 0.0
        self._skew_capped = False

    # ------------------------------------------------------------ protocol

    def step(self, view: View, event: Event) -> Intent | None:
        t = type(event)
        if t is BookDelta or t is BookSnapshot:
            if event.inst != self.inst:  # type: ignore[union-attr]
                return None
            if self._calm and view.now < self._wake:
                # fast path: nothing due, quotes standing; requote only on drift or a crossing
                # (the same tests as _on_book's, on values it prepared for this)
                book = view.books[self.inst]
                bb = book.best_bid
                ba = book.best_ask
                if (
                    self._calm_lo <= bb + ba <= self._calm_hi
                    and self._top_bid < ba
                    and bb < self._calm_ask
                    and not book.stale
                    and not book.crossed
                ):
                    return None
            return self._on_book(view)
        if t is Trade:
            if event.inst == self.inst:  # type: ignore[union-attr]
                mid_x2 = view.books[self.inst].mid_x2()
                ev = cast(Trade, event)
                self._kappa.estimator.on_trade(ev.ts_recv, ev.price, ev.size, ev.side, mid_x2)
            return None
        if t is Fill or t is Position:
            if event.inst != self.inst:  # type: ignore[union-attr]
                return None
            self._dirty = True
            self._calm = False
            return self._on_book(view)
        if t is Timer:
            return self._on_book(view) if view.now >= self._due else None
        if t is ConnectionState:  # a stream went down: pull if it left our book stale
            return self._on_book(view) if view.books[self.inst].stale else None
        if t is FundingRate and event.inst == self.inst:  # type: ignore[union-attr]
            self._funding = cast(FundingRate, event).rate_ppb * 1e-9
            if self.params.spread_model == "linear":  # the spread depends on it: re-quote now
                self._dirty = True
                self._calm = False
                return self._on_book(view)
        return None

    def notes(self) -> list[Output]:
        notes = self._notes
        return notes.drain() if notes.items else _NO_NOTES

    def statistics(self) -> ASStats:
        return ASStats(
            mode=self._mode,
            requotes=self._requotes,
            fair=self._fair,
            half_spread=self._half,
            q=self._q,
            volatility=self._vol.statistics(),
            kappa=self._kappa.statistics(),
            obi=self._obi.statistics(),
        )

    # ------------------------------------------------------------ decisions

    def _on_book(self, view: View) -> Intent | None:
        book = view.books[self.inst]
        bb = book.best_bid
        ba = book.best_ask
        now = view.now
        self._calm = False
        if book.stale or book.crossed or not bb or not ba:
            return self._pull(now, "book stale, crossed or one-sided")
        mid_x2 = bb + ba
        vol = self._vol
        if now >= vol.next_sample_ns:
            vol.on_mid(now, mid_x2)
        kappa = self._kappa
        if now >= kappa.next_fit_ns:
            note = kappa.refit(now, mid_x2)
            if note is not None:
                self._notes.add(now, note[0], note[1])
        if not vol.warm and not self.params.warmup_half_spread_bps:
            return None
        mode = self._mode
        if (
            self._dirty
            or now >= self._due
            or (mode != _QUOTING and (mode != _WARMUP or vol.warm))
            or abs(mid_x2 - self._quoted_mid_x2) > self._drift_x2
            or self._top_bid >= ba
            or (self._top_ask and self._top_ask <= bb)  # the book moved through our quotes
        ):
            intent = self._quote(view, book, mid_x2)
        else:
            intent = None
        mode = self._mode
        calm = self._calm = not self._dirty and (
            mode == _QUOTING or (mode == _WARMUP and not vol.warm)
        )
        self._wake = min(vol.next_sample_ns, kappa.next_fit_ns, self._due)
        if calm:
            # No drift is |mid_x2 - quoted| <= drift_x2; for integers that is |.| <= floor(drift_x2)
            reach = math.floor(self._drift_x2)
            self._calm_lo = self._quoted_mid_x2 - reach
            self._calm_hi = self._quoted_mid_x2 + reach
            self._calm_ask = self._top_ask or _NO_ASK
        return intent

    def _set_mode(self, now: int, mode: str, why: str) -> None:
        if mode != self._mode:
            self._notes.add(now, "mode", f"{self._mode} -> {mode}: {why}")
            self._mode = mode

    def _pull(self, now: int, why: str) -> Intent | None:
        if self._mode == _PULLED or self._mode == _WAITING:
            return None
        self._set_mode(now, _PULLED, why)
        self._quoted_mid_x2 = 0
        return self._emit(QuoteTarget(self.inst))

    def _emit(self, target: QuoteTarget) -> Intent | None:
        if target == self._last:
            return None
        self._last = target
        self._requotes += 1
        return target

    def _bound_skew(self, now: int, mid: float, fair: float, bound: float) -> float:
        """``fair`` clamped to ``mid ± bound``; a note when the clamp starts or stops biting."""
        capped = mid - bound if fair < mid - bound else mid + bound if fair > mid + bound else fair
        biting = capped != fair
        if biting != self._skew_capped:
            self._skew_capped = biting
            if biting:
                what = f"fair {fair:.10g} is more than {bound:.10g} from mid {mid:.10g}: capped"
            else:
                what = f"fair {fair:.10g} is back within {bound:.10g} of mid {mid:.10g}"
            self._notes.add(now, "skew_capped" if biting else "skew_uncapped", what)
        return capped

    def _levels(
        self, book: Book, mid_x2: int, fair: float, half: float, position: int, q: float
    ) -> tuple[Levels, Levels]:
        """Bids and asks around ``fair``, each level skewed by ``q``, and each side cut to the
        room left before ``max_position_usd`` in its direction: the skew shrinks each level but
        not the side's total, which with several levels could carry q past 1 (or past -1)."""
        p = self.params
        tick = self._tick
        if p.order_notional_usd:
            base = notional_lots(p.order_notional_usd, mid_x2, self._unit)
        else:
            base = p.size_lots
        min_lots = self._min_lots
        limit = notional_lots(p.max_position_usd, mid_x2, self._unit)
        step = mid_x2 * 0.5 * p.level_spacing_bps * 1e-4
        bids = bid_levels(
            (fair - half) / tick, step, skewed_size(base, q, 1, min_lots), p.levels, book.best_ask
        )
        asks = ask_levels(
            (fair + half) / tick, step, skewed_size(base, q, -1, min_lots), p.levels, book.best_bid
        )
        return (
            cap_to_limit(bids, 1, position, limit, min_lots),
            cap_to_limit(asks, -1, position, limit, min_lots),
        )

    def _quote(self, view: View, book: Book, mid_x2: int) -> Intent | None:
        p = self.params
        now = view.now
        tick = self._tick
        mid = mid_x2 * 0.5 * tick
        position = view.ledger.position(self.inst)
        q = position * self._lot * mid / p.max_position_usd
        vol = self._vol
        if vol.warm:
            sigma = vol.sigma * mid
            tau = horizon_left_s(now, p.horizon_s, self._finite)
            model = p.spread_model
            if model == "linear":
                half = linear_half_spread(
                    mid,
                    p.linear_base_bps,
                    vol.sigma,
                    p.linear_sigma_mult,
                    p.linear_funding_mult,
                    self._funding,
                )
                fair = linear_fair(mid, q, p.linear_inventory_k)
            else:
                fair = as_reservation(mid, q, p.gamma, sigma, tau)
                if model == "bounded":
                    market_spread = (book.best_ask - book.best_bid) * tick
                    min_half = mid * p.min_half_spread_bps * 1e-4
                    half = bounded_half_spread(
                        min_half, market_spread, p.bounded_sigma_mult, sigma, q
                    )
                else:
                    half = as_half_spread(p.gamma, self._kappa.kappa, sigma, tau)
            self._set_mode(now, _QUOTING, f"volatility warm, sigma={vol.sigma:.3g}/sqrt(s)")
        else:
            fair = mid
            half = mid * p.warmup_half_spread_bps * 1e-4
            self._set_mode(now, _WARMUP, "volatility not warm yet: quoting the warm-up spread")
        if not (math.isfinite(fair) and math.isfinite(half)):
            self._notes.add(
                now, "quote_invalid", f"fair={fair} half={half} not finite: quotes pulled"
            )
            return self._pull(now, "invalid quote")
        lo = mid * p.min_half_spread_bps * 1e-4
        hi = mid * p.max_half_spread_bps * 1e-4
        half = lo if half < lo else hi if half > hi else half
        if p.obi.weight:
            fair -= p.obi.weight * self._obi.update(now, book) * 2.0 * half
        if p.max_skew_bps:
            fair = self._bound_skew(now, mid, fair, mid * p.max_skew_bps * 1e-4)
        bids, asks = self._levels(book, mid_x2, fair, half, position, q)
        self._quoted_mid_x2 = mid_x2
        self._drift_x2 = mid_x2 * self._drift
        self._top_bid = bids[0][0] if bids else 0
        self._top_ask = asks[0][0] if asks else 0
        self._due = now + self._interval
        self._dirty = False
        self._fair = fair
        self._half = half
        self._q = q
        return self._emit(QuoteTarget(self.inst, bids, asks))
