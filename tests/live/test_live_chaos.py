"""Seeded chaos over the whole live path: the live runner, the real Extended adapter and x10 SDK,
the emulator on 127.0.0.1, with faults injected through the emulator's switches.

For each seed in ``SEEDS`` one session runs for ``CHAOS_STEPS`` steps of ``STEP_S`` while a
schedule drawn from ``random.Random(seed)`` injects, step by step (each kind at least once per
seed): dropped sockets (every socket, or the account socket alone), skipped book sequence
numbers, a lost account frame (a gap in the account stream's sequence numbers), REST 429 and 5xx
answers, REST responses delayed shorter and longer than the adapter's request timeout (when every
attempt of a call fails its outcome is unknown; held requests are still handled when their delay
ends), and public trades through our resting quotes (fills). The market walks on its own too,
so quotes are replaced all along. Then the switches not yet used go off and the session is
stopped at once, with held requests, a reconcile or a reconnect still under way.

The limits are tight (``[risk] max_position_lots`` 250 with orders of 100 lots, while the
strategy would hold 666; ``max_open_orders`` 3 while the strategy quotes two orders and replaces
them), so they bind. Invariants checked, per seed:

- the venue's position never passed ``max_position_lots`` (after every fill the emulator
  recorded);
- our open orders at the venue (sampled after every change of the emulator account) never
  exceeded ``max_open_orders``, not counting the one documented exception: a place the reconcile
  declared NOT_FOUND whose held copy landed later (a stray, canceled when seen; the risk gate
  otherwise counts an order from its ``Place`` until the venue confirms it terminal, so no other
  in-flight allowance applies);
- no client id was placed twice at the venue (the emulator's orders);
- after shutdown (and after every request still held at the venue was handled) no order of ours
  is open at the venue, and none is live in the ledger;
- the recorded log replays through a fresh engine with zero divergences;
- every fill at the venue is in the log exactly once (by trade id), and the ledger's position
  never left the range the venue's position took (a fill counted twice would);
- the ledger's PnL at the end equals the PnL of the venue's fills (their cash and the position's
  value at the same mid), to the nano;
- the engine's ledger position equals the venue's at the end.

A failure names its seed: rerun it with ``-k "seed=<n>"``, or other seeds with
``MM_CHAOS_SEEDS=4,5,6``.

Bug found and fixed (regression test
``test_a_lost_fill_is_counted_once_even_when_the_reconcile_is_cut_short``): a fill whose TRADE
frame is lost reached the ledger twice, once in the venue's position that follows on the stream
and once as the fill the reconcile finds; the reconcile's own position read set it right
afterwards, unless the stop's teardown cut that reconcile short or the read failed and the retry
came after the stop. The session then ended with the ledger off by the fill
(``mmcore/live.py``: the shutdown now reconciles with the venue once more before closing). The
double count itself is gone too: after an account gap the adapter holds the venue's positions
back until the reconcile has passed on the lost fills (``adapters/extended/position_hold.py``).

A second finding, fixed (``adapters/extended/execution.py`` ``Executor.settle``): when every
attempt of a place timed out while the venue held the requests, the reconcile found no such order
and reported it rejected, NOT_FOUND. The engine dropped it from its open orders and its exposure
and quoted again; the held copy then landed and worked beside the replacement, and a trade in that
window filled both: the position passed ``max_position_lots``. The reconcile now sends such a
place's signed body again instead (the venue takes it once; a copy landing later is a duplicate),
and the test at the end checks that the limit holds. The random schedule still aims no delay
longer than the request timeout at ``/user/order`` itself, the place's route: that case has its
own test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.emulator.account import AccountUpdate, EmulatedAccount
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.cli.run_cmd import venue_table
from mmcore.config import parse_config
from mmcore.engine import Engine
from mmcore.events import BUY, SELL, Event, Fill, OrderRejected, Position, Trade
from mmcore.live import LiveResult, LiveRunner
from mmcore.log import open_log
from mmcore.records import is_output
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
MID = 60_000
MakeEmulator = Callable[..., Awaitable[ExtendedEmulatorHandle]]
SEEDS = tuple(int(s) for s in os.environ.get("MM_CHAOS_SEEDS", "1,2,3").split(","))
"""The seeds run; ``MM_CHAOS_SEEDS=4,5,6`` runs others (to hunt, or to rerun one that failed)."""
STEP_S = 0.1
CHAOS_STEPS = 45
MAX_POSITION_LOTS = 250
MAX_OPEN_ORDERS = 3
REST_TIMEOUT_S = 0.3
REST_RETRIES = 2
LONG_DELAY_MS = 1500.0  # the longest delay: beyond every attempt of a call (3 x 0.3 s)

CHAOS_TOML = f"""
[session]
venue = "extended"
network = "local"
markets = ["{SYM}"]
seed = {{seed}}
timer_interval_ms = 100
status_interval_s = 0

[strategy]
name = "avellaneda_stoikov"
[strategy.params]
spread_model = "linear"
linear_base_bps = 1.0
linear_inventory_k = 0.0003
min_half_spread_bps = 1.0
order_notional_usd = 60.0
max_position_usd = 400.0
requote_bps = 0.5
requote_interval_ms = 300
warmup_half_spread_bps = 1.0
[strategy.params.volatility]
sample_interval_ms = 100
warmup_samples = 3

[orders]
replace_threshold_bps = 0.1
max_order_age_s = 30.0
max_open_orders = 4

[risk]
max_position_lots = {MAX_POSITION_LOTS}
max_open_orders = {MAX_OPEN_ORDERS}
price_band_bps = 100
max_consecutive_failures = 0

[venue]
base_url = "{{base_url}}"
dead_man_switch_s = 0
reconcile_interval_s = 1.0
reconnect_min_s = 0.05
reconnect_max_s = 0.2
rest_timeout_s = {REST_TIMEOUT_S}
rest_retries = {REST_RETRIES}
rest_backoff_min_s = 0.02
rest_backoff_max_s = 0.1
seed = {{seed}}
"""
"""Orders of 100 lots (60 USD at 60000, lots of 0.00001 BTC); the strategy would hold up to
666 lots, the risk gate allows 250."""

PREFIXES = ("/api/v1/user/order", "/api/v1/user", "/api/v1")
"""REST path prefixes the faults aim at: order calls (place, cancel, mass cancel, order reads),
every account call, everything."""
LONG_DELAY_PREFIXES = (
    "/api/v1/user/orders",
    "/api/v1/user/order/massCancel",
    "/api/v1/user/trades",
    "/api/v1/user/positions",
)
"""Where delays longer than the request timeout go: order and fill reads (the reconcile), the
mass cancel, positions; not the place's route (see the module doc's finding)."""


class Monitor:
    """An exchange listener sampling our account after every change the emulator makes."""

    def __init__(self, account: EmulatedAccount) -> None:
        self.account = account
        self.max_open = 0
        self.max_open_ids: list[str] = []
        self.over: list[list[str]] = []  # our open orders whenever more than MAX_OPEN_ORDERS
        self.samples = 0

    def on_market(self, ev: Event, old: object) -> None:
        pass

    def on_account(self, account: EmulatedAccount, update: AccountUpdate) -> None:
        if account is not self.account:
            return
        self.samples += 1
        open_ids = [o.client_id for o in account.open_orders(SYM)]
        if len(open_ids) > self.max_open:
            self.max_open = len(open_ids)
            self.max_open_ids = sorted(open_ids)
        if len(open_ids) > MAX_OPEN_ORDERS:
            self.over.append(sorted(open_ids))


class Observed(msgspec.Struct):
    """What one seed's session did, for the tests to check."""

    seed: int
    log_path: str
    schedule: list[str]
    kinds: dict[str, int]
    fault_stats: dict[str, int]
    positions_after_fills: list[int]
    fills: int
    max_open: int
    max_open_ids: list[str]
    over: list[list[str]]
    not_found: list[str]
    samples: int
    client_ids: list[str]
    open_after: list[str]
    venue_position: int
    ledger_position: int
    ledger_open: list[str]
    stop_reason: str
    adapter_stats: dict[str, int]
    venue_trade_ids: list[str]
    ledger_trade_ids: list[str]
    pnl_off: int
    corrections: int
    ledger_positions: list[int]
    time_went_back: list[str]


async def _drop_account_socket(h: ExtendedEmulatorHandle) -> int:
    """Close the account socket(s) only, as ``WsHub.drop_all`` closes every socket."""
    clients = h.hub.of(f"account:{h.credentials[0].account_id}")
    for c in clients:
        h.hub.clients.discard(c)
        c.queue.put_nowait(None)
        await c.ws.close(code=1012, message=b"dropped")
    return len(clients)


def _lose_next_account_frame(h: ExtendedEmulatorHandle) -> int:
    """The next frame queued on the account socket is lost on the way (its sequence number is
    used, so the adapter sees a gap at the frame after it)."""
    clients = h.hub.of(f"account:{h.credentials[0].account_id}")
    for c in clients:
        queue = c.queue

        def lose(item: str | None, queue: asyncio.Queue[str | None] = queue) -> None:
            del queue.put_nowait  # back to the class's method
            if item is None:
                queue.put_nowait(item)

        queue.put_nowait = lose  # type: ignore[method-assign]
    return len(clients)


def _delay_account_frames(h: ExtendedEmulatorHandle, seconds: float) -> int:
    """From now on every frame queued on the account socket leaves ``seconds`` later (in order):
    a slow stream, as when the venue's stream lags its REST."""
    loop = asyncio.get_running_loop()
    clients = h.hub.of(f"account:{h.credentials[0].account_id}")
    for c in clients:
        queue = c.queue
        put = queue.put_nowait

        def later(item: str | None, put: Callable[[str | None], None] = put) -> None:
            loop.call_later(seconds, put, item)

        queue.put_nowait = later  # type: ignore[method-assign]
    return len(clients)


def _trade_through(h: ExtendedEmulatorHandle, rng: random.Random) -> str | None:
    """A public trade through one of our resting quotes (a fill of 20..250 lots), or None when
    none rests now."""
    resting = [o for o in h.account().open_orders(SYM) if o.status != "PENDING"]
    if not resting:
        return None
    side = rng.choice(sorted({o.side for o in resting}))
    if side == BUY:
        price = max(o.price for o in resting if o.side == BUY) - rng.randint(0, 3)
        aggressor = SELL
    else:
        price = min(o.price for o in resting if o.side == SELL) + rng.randint(0, 3)
        aggressor = BUY
    size = rng.randint(20, 250)
    h.exchange.inject(Trade(SYM, 0, 0, price, size, aggressor))
    return f"trade {'sell' if aggressor == SELL else 'buy'} {size}@{price}"


KINDS = (
    "drop_all",
    "drop_account",
    "skip_seq",
    "lose_frame",
    "http_429",
    "http_5xx",
    "delay_short",
    "delay_long",
)
"""The faults of the schedule; each is injected at least once per seed."""


async def _inject(h: ExtendedEmulatorHandle, rng: random.Random, kind: str) -> str:
    """Inject one fault of ``kind``; what was done, for the record."""
    faults = h.faults
    if kind == "drop_all":
        return f"drop all sockets ({await faults.drop_connections()})"
    if kind == "drop_account":
        return f"drop account socket ({await _drop_account_socket(h)})"
    if kind == "skip_seq":
        n = rng.randint(1, 2)
        faults.skip_book_seq(n)
        return f"skip {n} book seq"
    if kind == "lose_frame":
        return f"lose account frame ({_lose_next_account_frame(h)})"
    if kind == "http_429":
        n = rng.randint(1, 3)
        prefix = rng.choice(PREFIXES)
        faults.fail_next(n, 429, prefix)
        return f"429 x{n} {prefix}"
    if kind == "http_5xx":
        n = rng.randint(1, 3)
        status = rng.choice((500, 502, 503))
        prefix = rng.choice(PREFIXES)
        faults.fail_next(n, status, prefix)
        return f"{status} x{n} {prefix}"
    if kind == "delay_short":
        n = rng.randint(1, 3)
        ms = rng.uniform(20.0, REST_TIMEOUT_S * 1000.0 / 2)
        prefix = rng.choice(PREFIXES)
        faults.delay_next(n, ms, prefix)
        return f"delay {ms:.0f}ms x{n} {prefix}"
    # longer than the request timeout: the call times out and is retried; when every attempt
    # does, its outcome is unknown, and the held requests are handled when their delay ends.
    # Not on /user/order itself (the place): see the module doc's finding
    n = rng.randint(1, REST_RETRIES + 2)
    ms = rng.uniform(REST_TIMEOUT_S * 1000.0 * 1.2, LONG_DELAY_MS)
    prefix = rng.choice(LONG_DELAY_PREFIXES)
    faults.delay_next(n, ms, prefix)
    return f"delay {ms:.0f}ms x{n} {prefix}"


async def _chaos_step(
    h: ExtendedEmulatorHandle, rng: random.Random, owed: list[int], forced: str | None
) -> tuple[str, str]:
    """One step of the schedule: maybe a fill, maybe a fault (``forced``, else drawn); returns
    (the fault's kind or "", what was done)."""
    done: list[str] = []
    if owed[0] or rng.random() < 0.12:
        what = _trade_through(h, rng)
        owed[0] = 0 if what else 1  # nothing rests now: trade at the next step instead
        if what:
            done.append(what)
    kind = forced
    if kind is None and rng.random() < 0.45:
        kind = rng.choice(KINDS)
    if kind is not None:
        done.append(await _inject(h, rng, kind))
    return kind or "", "; ".join(done)


def _not_found(log_path: str) -> list[str]:
    """Client ids the engine was told the venue never took (``OrderRejected`` NOT_FOUND)."""
    return sorted(
        r.client_id
        for r in open_log(log_path, repair=False)
        if type(r) is OrderRejected and r.code == "NOT_FOUND"
    )


def _adapter_stats(adapter: ExtendedAdapter) -> dict[str, int]:
    """The adapter's counters of the paths the faults exercise."""
    st = adapter.statistics()
    return {
        "book_gaps": st.book_gaps,
        "account_gaps": st.account_gaps,
        "resyncs": st.resyncs,
        "reconciles": st.reconciles,
        "unknown_outcomes": st.execution.unknown_outcomes,
        "duplicates_1134": st.execution.place_retries_deduplicated,
        "rejects": st.tracker.rejected,
        "late_fills": st.tracker.late_fills,
        "rest_retries": st.rest.retries,
        "rest_gave_up": st.rest.gave_up,
    }


def _live(
    h: ExtendedEmulatorHandle, text: str, where: str, log_path: Path
) -> tuple[ExtendedAdapter, LiveRunner]:
    """The adapter and live runner of one session of config ``text`` against ``h``."""
    config = parse_config(text, where)
    venue = venue_table(config, "chaos", ExtendedConfig)
    adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
    runner = LiveRunner(
        adapter, config, build_engine, log_path, clock=time.time_ns, handle_signals=False,
        shutdown_timeout_s=5.0,
    )
    return adapter, runner


async def _until(task: asyncio.Task[Any], done: Callable[[], bool], what: str) -> None:
    """Poll ``done()`` until true; fail if the runner ``task`` ended first or after 10 s."""
    deadline = time.monotonic() + 10.0
    while not done():
        if task.done():
            task.result()
            raise AssertionError(f"the runner stopped before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class _Quoting:
    """One live session against its emulator, quoting both sides: what a scenario of account
    faults needs (``_quoting`` starts it)."""

    def __init__(
        self, h: ExtendedEmulatorHandle, adapter: ExtendedAdapter, runner: LiveRunner,
        task: asyncio.Task[LiveResult],
    ) -> None:
        self.h = h
        self.account = h.account()
        self.adapter = adapter
        self.runner = runner
        self.task = task

    def orders(self, side: int) -> list[int]:
        return [o.price for o in self.account.open_orders(SYM) if o.side == side]

    def quiet(self) -> bool:
        """Quotes on both sides, acknowledged: no account frame on its way."""
        st = self.adapter.statistics().tracker
        return bool(self.orders(BUY)) and bool(self.orders(SELL)) and st.pending == 0

    def ledger(self) -> int:
        assert self.runner.engine is not None
        return self.runner.engine.ledger.position(SYM)

    def venue(self) -> int:
        pos = self.account.positions.get(SYM)
        return pos.size if pos is not None else 0

    def reconciles(self) -> int:
        return self.adapter.statistics().reconciles

    def fill(self, side: int, size: int = 10_000) -> None:
        """A public trade through our best quote of ``side`` (a fill of ours on that side)."""
        if side == BUY:
            self.h.exchange.inject(Trade(SYM, 0, 0, max(self.orders(BUY)) - 3, size, SELL))
        else:
            self.h.exchange.inject(Trade(SYM, 0, 0, min(self.orders(SELL)) + 3, size, BUY))

    async def until(self, done: Callable[[], bool], what: str) -> None:
        await _until(self.task, done, what)

    async def stop(self) -> LiveResult:
        self.runner.request_stop("test over")
        return await asyncio.wait_for(self.task, 30)


@contextlib.asynccontextmanager
async def _quoting(
    make_emulator: MakeEmulator,
    log_dir: Path,
    name: str,
    *,
    hold_s: float = 5.0,
    reconnect_s: float | None = None,
) -> AsyncIterator[_Quoting]:
    """A session of the chaos config with no periodic reconcile, ``position_hold_s`` =
    ``hold_s`` and (when given) every reconnect ``reconnect_s`` after a drop, once it quotes."""
    h = await make_emulator(7)
    try:
        text = (
            CHAOS_TOML.replace("{seed}", "7")
            .replace("{base_url}", h.base_url)
            .replace("reconcile_interval_s = 1.0",
                     f"reconcile_interval_s = 0\nposition_hold_s = {hold_s}")
        )
        if reconnect_s is not None:
            text = text.replace("reconnect_min_s = 0.05", f"reconnect_min_s = {reconnect_s}")
            text = text.replace("reconnect_max_s = 0.2", f"reconnect_max_s = {reconnect_s}")
        adapter, runner = _live(h, text, f"<{name}>", log_dir / f"{name}.mmlog")
        q = _Quoting(h, adapter, runner, asyncio.create_task(runner.run()))
        await q.until(q.quiet, "acknowledged quotes")
        yield q
    finally:
        await h.close()


async def _session(seed: int, log_dir: Path, make_emulator: MakeEmulator) -> Observed:
    walk = RandomWalkParams(mid_ticks=MID, move_prob=0.3, trade_prob=0.0, step_ms=100)
    h = await make_emulator(seed, walk)
    try:
        account = h.account()
        monitor = Monitor(account)
        h.exchange.listeners.append(monitor)
        text = CHAOS_TOML.replace("{seed}", str(seed)).replace("{base_url}", h.base_url)
        adapter, runner = _live(h, text, f"<chaos seed={seed}>", log_dir / f"chaos-{seed}.mmlog")
        task = asyncio.create_task(runner.run())
        rng = random.Random(seed)
        schedule: list[str] = []
        owed = [0]
        kinds: Counter[str] = Counter()
        forced = dict(zip(rng.sample(range(CHAOS_STEPS), len(KINDS)), KINDS))
        for step in range(CHAOS_STEPS):
            await asyncio.sleep(STEP_S)
            if task.done():
                break
            kind, what = await _chaos_step(h, rng, owed, forced.get(step))
            if kind:
                kinds[kind] += 1
            if what:
                schedule.append(f"{step}: {what}")
        if task.done():
            task.result()  # the runner died: show why
        # stop at once, with whatever the faults left behind: requests held at the venue, a
        # reconcile under way, a stream reconnecting; only the switches not yet used go off
        h.faults.clear()
        runner.request_stop("chaos over")
        result = await asyncio.wait_for(task, 30)
        # requests still held by a delay are handled when it ends: look after that
        await asyncio.sleep(LONG_DELAY_MS / 1000.0 + 0.3)
        await h.step()
        assert runner.engine is not None
        position = 0
        positions = []
        for f in account.fills:
            position += f.side * f.size
            positions.append(position)
        stats = h.faults.statistics()
        pos = account.positions.get(SYM)
        ledger = runner.engine.ledger
        return Observed(
            seed=seed,
            log_path=result.log_path,
            schedule=schedule,
            kinds=dict(kinds),
            fault_stats=msgspec.structs.asdict(stats),
            positions_after_fills=positions,
            fills=len(account.fills),
            max_open=monitor.max_open,
            max_open_ids=monitor.max_open_ids,
            over=monitor.over,
            not_found=_not_found(result.log_path),
            samples=monitor.samples,
            client_ids=[o.client_id for o in account.orders.values()],
            open_after=sorted(o.client_id for o in account.open_orders()),
            venue_position=pos.size if pos is not None else 0,
            ledger_position=runner.engine.ledger.position(SYM),
            ledger_open=result.open_orders,
            stop_reason=result.stop_reason,
            adapter_stats=_adapter_stats(adapter),
            venue_trade_ids=sorted(str(f.trade_id) for f in account.fills),
            ledger_trade_ids=sorted(
                r.trade_id for r in open_log(result.log_path, repair=False) if isinstance(r, Fill)
            ),
            pnl_off=_pnl_off(runner.engine, account),
            ledger_positions=_ledger_positions(result.log_path),
            time_went_back=_time_went_back(result.log_path),
            corrections=ledger.statistics().position_corrections,
        )
    finally:
        await h.close()


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed={s}")
def chaos(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_emulator: MakeEmulator,
) -> Observed:
    seed: int = request.param
    print(f"chaos seed={seed}")
    logging.getLogger(__name__).info("chaos seed=%d", seed)
    observed = asyncio.run(_session(seed, tmp_path_factory.mktemp(f"chaos{seed}"), make_emulator))
    print(f"chaos seed={seed} schedule:\n  " + "\n  ".join(observed.schedule))
    print(f"chaos seed={seed} adapter: {observed.adapter_stats}")
    return observed


def _where(o: Observed) -> str:
    return f"[chaos seed={o.seed}; rerun with -k 'seed={o.seed}'; faults {o.fault_stats}]"


def test_the_schedule_injected_faults_and_fills(chaos: Observed) -> None:
    assert sorted(chaos.kinds) == sorted(KINDS), _where(chaos)
    s = chaos.fault_stats
    assert s["rest_failures"] > 0 and s["rest_delays"] > 0, _where(chaos)
    assert chaos.fills > 0, f"no fill at the venue {_where(chaos)}"
    assert chaos.stop_reason == "chaos over", _where(chaos)


def test_the_venue_position_never_passed_the_limit(chaos: Observed) -> None:
    worst = max((abs(p) for p in chaos.positions_after_fills), default=0)
    assert worst <= MAX_POSITION_LOTS, (
        f"position {worst} lots at the venue, limit {MAX_POSITION_LOTS}; positions after each "
        f"fill {chaos.positions_after_fills} {_where(chaos)}"
    )


def test_open_orders_at_the_venue_never_passed_the_limit(chaos: Observed) -> None:
    """The risk gate counts an order from its ``Place`` until the venue confirms it terminal, so
    every order open at the venue is one it counts, save one documented kind: a place the
    reconcile declared NOT_FOUND whose held copy landed later (a stray, canceled when seen). The
    bound: our open orders at the venue, less such strays, never above ``max_open_orders``."""
    assert chaos.samples > 0, _where(chaos)
    strays = set(chaos.not_found)
    for ids in chaos.over:
        counted = [cid for cid in ids if cid not in strays]
        assert len(counted) <= MAX_OPEN_ORDERS, (
            f"{len(counted)} open orders at the venue at once that the engine counted "
            f"({counted}; strays declared NOT_FOUND: {sorted(strays & set(ids))}), limit "
            f"{MAX_OPEN_ORDERS} {_where(chaos)}"
        )


def test_no_client_id_was_placed_twice(chaos: Observed) -> None:
    twice = {cid: n for cid, n in Counter(chaos.client_ids).items() if n > 1}
    assert not twice, f"placed more than once: {twice} {_where(chaos)}"


def test_nothing_of_ours_is_open_at_the_venue_after_shutdown(chaos: Observed) -> None:
    assert chaos.open_after == [], f"still open: {chaos.open_after} {_where(chaos)}"
    assert chaos.ledger_open == [], f"live in the ledger: {chaos.ledger_open} {_where(chaos)}"


def test_the_log_replays_with_zero_divergences(chaos: Observed) -> None:
    verdict = verify_log(chaos.log_path)
    assert verdict.ok, (
        f"{verdict.divergence.describe() if verdict.divergence else verdict} {_where(chaos)}"
    )


def test_every_fill_at_the_venue_reached_the_ledger_once(chaos: Observed) -> None:
    assert chaos.ledger_trade_ids == chaos.venue_trade_ids, (
        f"venue trades {chaos.venue_trade_ids}, fills in the log {chaos.ledger_trade_ids} "
        f"{_where(chaos)}"
    )


def test_the_ledger_position_never_left_the_range_the_venues_took(chaos: Observed) -> None:
    """A fill counted twice (through a position and as a fill) shows as a position the venue
    never had; a fill not yet seen leaves the ledger behind, inside the range."""
    venue = [0, *chaos.positions_after_fills]
    low, high = min(venue), max(venue)
    outside = [p for p in chaos.ledger_positions if not low <= p <= high]
    assert not outside, (
        f"ledger positions {outside} outside the venue's [{low}, {high}] {_where(chaos)}"
    )


def test_engine_time_never_went_back(chaos: Observed) -> None:
    assert not chaos.time_went_back, f"{chaos.time_went_back[:10]} {_where(chaos)}"


def test_the_ledger_pnl_equals_the_pnl_of_the_venues_fills(chaos: Observed) -> None:
    """Cash and position value of the venue's fills, to the nano: a fill counted twice, or
    booked through a position correction at the average cost, shows here. (A correction that
    rescales the position's cost floors it to the nano: one nano each is allowed.)"""
    assert abs(chaos.pnl_off) <= chaos.corrections, (
        f"the ledger's PnL is {chaos.pnl_off} nanos off the venue fills' "
        f"({chaos.corrections} position corrections) {_where(chaos)}"
    )


def test_the_ledger_position_equals_the_venues_at_the_end(chaos: Observed) -> None:
    assert chaos.ledger_position == chaos.venue_position, (
        f"ledger {chaos.ledger_position} lots, venue {chaos.venue_position} lots {_where(chaos)}"
    )



# ---------------------------------------------------------------- a finding, fixed


async def _not_found_then_lands(log_dir: Path, make_emulator: MakeEmulator) -> list[int]:
    """The venue's position after each fill when places of unknown outcome land late.

    Every attempt of the first bid's and ask's place is held at the venue for 1.5 s: both calls
    give up (0.3 s timeout, one retry) and the reconcile finds neither order. Before the fix the
    engine was told both were rejected (NOT_FOUND) and quoted again, and the held copies rested
    beside the new orders; now the places are sent again, so each order exists once. After the
    held copies have landed, a sell trades through every bid at the venue."""
    h = await make_emulator(5)
    try:
        account = h.account()
        text = (
            CHAOS_TOML.replace("{seed}", "5")
            .replace("{base_url}", h.base_url)
            .replace(f"max_position_lots = {MAX_POSITION_LOTS}", "max_position_lots = 150")
            .replace("reconcile_interval_s = 1.0", "reconcile_interval_s = 0")
            .replace(f"rest_retries = {REST_RETRIES}", "rest_retries = 1")
        )
        adapter, runner = _live(h, text, "<not found then lands>", log_dir / "not-found.mmlog")
        # the POSTs (and DELETEs by external id) of /user/order only: 2 places x 2 attempts
        h.faults.delay_next(4, 1500.0, "/api/v1/user/order$")
        task = asyncio.create_task(runner.run())

        async def until(done: Callable[[], bool], what: str) -> None:
            await _until(task, done, what)

        def bids() -> list[int]:
            return [o.price for o in account.open_orders(SYM) if o.side == BUY]

        await until(lambda: len(bids()) >= 1, "a bid resting at the venue")
        await asyncio.sleep(2.0)  # every held copy has landed by now (held 1.5 s each)
        assert adapter.statistics().tracker.rejected == 0, "no place may be declared gone"
        h.exchange.inject(Trade(SYM, 0, 0, min(bids()) - 3, 10_000, SELL))
        await until(lambda: bool(account.fills), "the fills")
        await asyncio.sleep(0.1)
        runner.request_stop("test over")
        await asyncio.wait_for(task, 30)
        position = 0
        out = []
        for f in account.fills:
            position += f.side * f.size
            out.append(position)
        return out
    finally:
        await h.close()


def test_places_of_unknown_outcome_that_land_late_cannot_pass_the_position_limit(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    positions = asyncio.run(_not_found_then_lands(tmp_path, make_emulator))
    assert positions, "expected fills at the venue"
    worst = max(abs(p) for p in positions)
    assert worst <= 150, f"position {worst} lots at the venue, limit 150 (after fills {positions})"


# ---------------------------------------------------------------- a bug, fixed


def _time_went_back(log_path: str) -> list[str]:
    """The inbound events of a log whose receive time is before the one handled before them."""
    out: list[str] = []
    last = 0
    for r in open_log(log_path, repair=False):
        if is_output(r):
            continue
        ts_recv: int = r.ts_recv  # type: ignore[attr-defined]
        if ts_recv < last:
            out.append(f"{type(r).__name__} {last - ts_recv} ns back")
        last = max(last, ts_recv)
    return out


def _pnl_off(engine: Engine, account: EmulatedAccount) -> int:
    """The ledger's PnL minus the PnL of the venue's fills (their cash and the venue position's
    value), both at the engine's mid, in nanos."""
    mid_x2 = engine.books[SYM].mid_x2()
    unit = engine.instruments[SYM].nanos_per_tick_lot
    pos = account.positions.get(SYM)
    venue = pos.size if pos is not None else 0
    cash = sum(-f.side * f.price * f.size * unit - f.fee_nanos for f in account.fills)
    return engine.ledger.total_pnl(SYM, mid_x2) - (cash + (venue * mid_x2 * unit) // 2)


def _ledger_positions(log_path: str) -> list[int]:
    """The ledger's position after each fill and venue position of a recorded session, in
    order (how the ledger folds them: a fill adds, a position sets)."""
    out: list[int] = []
    position = 0
    for r in open_log(log_path, repair=False):
        if isinstance(r, Fill):
            position += r.side * r.size
        elif isinstance(r, Position):
            position = r.size
        else:
            continue
        out.append(position)
    return out


async def _lose_a_fill(
    log_dir: Path,
    make_emulator: MakeEmulator,
    name: str,
    *,
    fail_reconcile_at: str,
    hold_s: float = 5.0,
    wait_s: float = 0.1,
    early: list[int] | None = None,
) -> tuple[int, list[int], int, int]:
    """(ledger position a moment after the fill, the ledger's positions through the session
    from its log, its position at the end, the venue's).

    A fill's TRADE frame is lost on the account stream; the POSITION frame after it holds the
    fill. The gap asks for a reconcile, which starts after the frames that follow the lost one
    are in, and whose REST reads fail from ``fail_reconcile_at`` on (every retry); the next try
    is seconds away when the session stops. The ledger is read as the read fails (appended to
    ``early``) and ``wait_s`` after."""
    early = [] if early is None else early
    async with _quoting(make_emulator, log_dir, name, hold_s=hold_s, reconnect_s=5.0) as q:
        faults = q.h.faults
        assert _lose_next_account_frame(q.h) == 1  # the fill's TRADE frame
        faults.delay_next(1, 200.0, "/api/v1/user/orders")
        faults.fail_next(1 + REST_RETRIES, 503, fail_reconcile_at)
        q.fill(BUY)
        await q.until(lambda: faults.statistics().rest_failures == 1 + REST_RETRIES,
                      "the reconcile's read failing")
        early.append(q.ledger())
        await asyncio.sleep(wait_s)
        during = q.ledger()
        result = await q.stop()
        return during, _ledger_positions(result.log_path), q.ledger(), q.venue()


async def _stale_reconcile_positions(
    log_dir: Path, make_emulator: MakeEmulator, outage_s: float, long_first: bool
) -> tuple[list[int], int, int, int]:
    """(the ledger's positions through the session, its position at the end, the venue's, the
    ledger's PnL minus the venue fills' PnL at the end).

    A reconcile reads the venue's trades, then its positions read is held up at the venue;
    meanwhile the account socket drops (and stays down about ``outage_s``), a fill happens
    while it is down (its TRADE frame is never sent), and the socket comes back. The held-up
    read answers with a position that has the fill the run's trades did not (before the socket
    is back when the outage is long), and the reconcile after the reconnect finds the fill.
    ``long_first``: the session first buys 100 lots, and the lost fill is a sell of them."""
    async with _quoting(make_emulator, log_dir, "stale", reconnect_s=outage_s) as q:
        if long_first:
            q.fill(BUY)
            await q.until(lambda: q.ledger() == 100, "a long position")
            await asyncio.sleep(0.5)
            await q.until(q.quiet, "quotes again")
        q.h.faults.delay_next(1, 400.0, "/api/v1/user/positions")
        runs = q.reconciles()
        q.adapter._request_reconcile("test: a run whose positions read is held up")
        await q.until(lambda: q.reconciles() > runs, "the run's reads")
        await asyncio.sleep(0.05)  # its trades are read: the positions read is held
        assert await _drop_account_socket(q.h) == 1
        q.fill(SELL if long_first else BUY)
        await q.until(lambda: q.reconciles() > runs + 1, "the reconcile after the reconnect")
        await asyncio.sleep(0.3)
        result = await q.stop()
        assert q.runner.engine is not None
        off = _pnl_off(q.runner.engine, q.account)
        return _ledger_positions(result.log_path), q.ledger(), q.venue(), off


@pytest.mark.parametrize("outage_s", [0.05, 1.5], ids=["short-outage", "long-outage"])
def test_positions_read_before_a_gap_wait_for_the_reconcile_after_it(
    tmp_path: Path, make_emulator: MakeEmulator, outage_s: float
) -> None:
    positions, end, venue, off = asyncio.run(
        _stale_reconcile_positions(tmp_path, make_emulator, outage_s, long_first=False)
    )
    assert venue == 100
    assert max(positions) == 100, f"the ledger counted the fill twice: {positions}"
    assert end == venue
    assert abs(off) <= 1, f"the ledger's PnL is {off} nanos off the venue fills'"


def test_a_sell_lost_in_an_outage_is_counted_once_and_keeps_its_pnl(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    positions, end, venue, off = asyncio.run(
        _stale_reconcile_positions(tmp_path, make_emulator, 1.5, long_first=True)
    )
    assert venue == 0
    assert min(positions) >= 0, f"the ledger counted the sell twice: {positions}"
    assert end == venue
    assert abs(off) <= 2, f"the ledger's PnL is {off} nanos off the venue fills'"


async def _reconcile_positions_case(
    log_dir: Path, make_emulator: MakeEmulator, name: str, act: str
) -> tuple[list[int], int, int, int]:
    """(the ledger's positions through the session, its position before the shutdown, the
    venue's, the ledger's PnL minus the venue fills' PnL at the end), after ``act``:

    - ``"fill in flight"``: a background reconcile reads the venue's trades; its positions read
      is held up at the venue while a fill happens, whose frames the account stream delivers
      only after that read has answered;
    - ``"venue moved"``: the venue's position changes with no frame at all (as a liquidation or
      a trade by hand would), and reconciles run."""
    async with _quoting(make_emulator, log_dir, name) as q:
        runs = q.reconciles()
        if act == "fill in flight":
            assert _delay_account_frames(q.h, 0.4) == 1
            q.h.faults.delay_next(1, 300.0, "/api/v1/user/positions")
            q.adapter._request_reconcile("test: positions read held up")
            await asyncio.sleep(0.1)  # its trades are read; its positions read is held
            q.fill(BUY)
            await q.until(lambda: q.reconciles() > runs + 1, "the confirming run")
        else:
            assert q.venue() == 0
            q.fill(BUY)
            await q.until(lambda: q.ledger() == 100, "the fill")
            pos = q.account.positions[SYM]
            pos.size = 60  # 40 lots gone without a frame (the entry notional scales with them)
            pos.entry_notional = pos.entry_notional * 60 // 100
            q.adapter._request_reconcile("test: the venue moved")
            await q.until(lambda: q.ledger() == 60, "the venue's position")
        await asyncio.sleep(0.2)
        during = q.ledger()  # before the shutdown's own reconcile
        result = await q.stop()
        assert q.runner.engine is not None
        off = _pnl_off(q.runner.engine, q.account)
        return _ledger_positions(result.log_path), during, q.venue(), off


def test_a_reconcile_position_holding_a_fill_still_in_flight_is_not_passed_on(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    positions, during, venue, off = asyncio.run(
        _reconcile_positions_case(tmp_path, make_emulator, "in-flight", "fill in flight")
    )
    assert venue == 100
    assert max(positions) == 100, f"the ledger counted the fill twice: {positions}"
    assert during == venue
    assert abs(off) <= 1, f"the ledger's PnL is {off} nanos off the venue fills'"


def test_a_venue_position_that_moved_without_a_frame_is_taken_at_the_next_run(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    positions, during, venue, _ = asyncio.run(
        _reconcile_positions_case(tmp_path, make_emulator, "moved", "venue moved")
    )
    assert venue == 60
    assert during == 60, f"the venue's word was not taken: {positions}"


async def _stop_while_holding(
    log_dir: Path, make_emulator: MakeEmulator
) -> tuple[list[int], int, int, int]:
    """(the ledger's positions through the session, its position at the end, the venue's,
    holds released late). A fill's TRADE frame is lost and the venue's trades cannot be read,
    so the position after it is held; the operator stops the session within ``position_hold_s``
    and the shutdown's reconcile fails too (the trades read). The stop's cancel of the bid
    comes back with the lost fill in its filled quantity: the engine is told of it only after
    that fill, which no reconcile finds, so the shutdown waits for the bid until its timeout
    (5 s; ``position_hold_s`` is longer, for the stop to be what releases the positions)."""
    async with _quoting(make_emulator, log_dir, "stop", hold_s=15.0) as q:
        faults = q.h.faults
        assert _lose_next_account_frame(q.h) == 1  # the fill's TRADE frame
        faults.fail_next(10_000, 503, "/api/v1/user/trades")
        q.fill(BUY, 40)  # a partial fill
        await q.until(lambda: faults.statistics().rest_failures >= 1 + REST_RETRIES,
                      "the reconcile's read failing")
        await asyncio.sleep(0.3)
        result = await q.stop()
        late = q.adapter.statistics().positions_released_late
        return _ledger_positions(result.log_path), q.ledger(), q.venue(), late


def test_a_stop_while_positions_are_held_still_ends_on_the_venues_position(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    positions, end, venue, late = asyncio.run(_stop_while_holding(tmp_path, make_emulator))
    assert venue == 40
    assert late == 0  # ended by the stop, not by position_hold_s
    assert end == venue, f"the ledger ends at {end}, the venue at {venue}: {positions}"


def test_a_lost_fill_is_counted_once_even_when_the_reconcile_is_cut_short(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    """The reconcile finds the lost fill and passes it on, then fails to read the positions:
    the venue's position held since the gap is passed on after the fill, never before it."""
    during, positions, end, venue = asyncio.run(_lose_a_fill(
        tmp_path, make_emulator, "cut-reconcile", fail_reconcile_at="/api/v1/user/positions"
    ))
    assert venue == 100  # the whole bid filled
    assert during == 100
    assert max(positions) == 100, f"the ledger counted the fill twice: {positions}"
    assert end == venue


def test_positions_held_since_a_gap_are_passed_on_when_no_reconcile_gets_through(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    """The reconcile cannot read the venue's trades: after ``position_hold_s`` the held position
    is passed on anyway, so the ledger does not stay short of the lost fill. (The fallback's
    price: the shutdown's reconcile then finds the fill and counts it again, until its own
    position read, the next event.)"""
    early: list[int] = []
    during, positions, end, venue = asyncio.run(_lose_a_fill(
        tmp_path, make_emulator, "no-reconcile", fail_reconcile_at="/api/v1/user/trades",
        hold_s=0.5, wait_s=0.8, early=early,
    ))
    assert venue == 100
    assert early == [0], "the venue's position was passed on before the hold ran out"
    assert during == 100, f"the held position was not passed on: {positions}"
    assert positions[-1] == end == venue
