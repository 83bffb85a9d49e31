"""SendQueue: which emitted commands may be in flight at the venue together.

Each command's ``ts`` is its emission number here, so a test can tell which one started."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import BUY, SELL
from mmcore.send_queue import SendQueue

SYM = "BTC-USD"


def place(n: int, cid: str, side: int = BUY, price: int = 100) -> Place:
    return Place(SYM, n, cid, side, price, 1)


def cancel(n: int, cid: str) -> Cancel:
    return Cancel(SYM, n, cid)


def cancel_all(n: int) -> CancelAll:
    return CancelAll("", n, "halt")


def numbers(cmds: list[Command]) -> list[int]:
    return [c.ts for c in cmds]


def pushed(q: SendQueue, *cmds: Command) -> list[int]:
    for c in cmds:
        q.push(c)
    return numbers(q.pop_ready())


def test_a_re_quote_of_four_distinct_orders_goes_out_at_once() -> None:
    q = SendQueue(8)
    started = pushed(q, cancel(0, "a"), cancel(1, "b"), place(2, "c"), place(3, "d"))
    assert started == [0, 1, 2, 3]
    assert q.in_flight == 4 and q.waiting == 0


def test_a_cancel_waits_for_the_place_of_its_own_order_and_holds_nothing_else() -> None:
    q = SendQueue(8)
    assert pushed(q, place(0, "a")) == [0]
    assert pushed(q, cancel(1, "a"), place(2, "b")) == [2]  # the cancel of a waits
    assert q.waiting == 1
    q.finished(place(2, "b"))
    assert q.pop_ready() == []  # b returning does not free a
    q.finished(place(0, "a"))
    assert numbers(q.pop_ready()) == [1]


def test_a_place_that_would_cross_our_order_being_canceled_waits_for_that_cancel() -> None:
    q = SendQueue(8)
    assert pushed(q, place(0, "ask", SELL, 100), place(1, "bid", BUY, 95)) == [0, 1]
    q.finished(place(0, "ask", SELL, 100))
    q.finished(place(1, "bid", BUY, 95))
    # the market jumps up: cancel both, re-quote bid 101 / ask 106
    started = pushed(
        q, cancel(2, "bid"), cancel(3, "ask"), place(4, "bid2", BUY, 101),
        place(5, "ask2", SELL, 106), place(6, "bid3", BUY, 99),
    )
    assert started == [2, 3, 5, 6]  # bid 101 would trade with our ask at 100: it waits
    q.finished(cancel(2, "bid"))
    assert q.pop_ready() == []
    q.finished(cancel(3, "ask"))
    assert numbers(q.pop_ready()) == [4]


def test_a_place_never_waits_for_a_cancel_of_another_market() -> None:
    """Prices of two markets are in their own ticks and their orders never meet: a BTC bid at
    59,990 ticks does not wait for an ETH ask at 30,001 being canceled (it did, so a slow ETH
    cancel left BTC without its bid for as long as the cancel took)."""
    q = SendQueue(8)
    eth_ask = Place("ETH-USD", 0, "eth-ask", SELL, 30_001, 1)
    assert pushed(q, eth_ask) == [0]
    q.finished(eth_ask)
    btc_bid = Place(SYM, 2, "btc-bid", BUY, 59_990, 1)
    assert pushed(q, Cancel("ETH-USD", 1, "eth-ask"), btc_bid) == [1, 2]
    eth_bid = Place("ETH-USD", 3, "eth-bid", BUY, 30_005, 1)  # would cross that ask: waits
    assert pushed(q, eth_bid) == []
    q.finished(Cancel("ETH-USD", 1, "eth-ask"))
    assert numbers(q.pop_ready()) == [3]


def test_commands_of_one_id_start_in_emission_order() -> None:
    q = SendQueue(8)
    assert pushed(q, place(0, "a"), cancel(1, "a"), cancel(2, "a")) == [0]
    q.finished(place(0, "a"))
    assert numbers(q.pop_ready()) == [1]
    q.finished(cancel(1, "a"))
    assert numbers(q.pop_ready()) == [2]


def test_a_cancel_all_waits_for_everything_before_it_and_holds_everything_after() -> None:
    q = SendQueue(8)
    assert pushed(q, place(0, "a"), place(1, "b"), cancel_all(2), place(3, "c")) == [0, 1]
    q.finished(place(0, "a"))
    assert q.pop_ready() == []
    q.finished(place(1, "b"))
    assert numbers(q.pop_ready()) == [2]
    assert pushed(q, Resync(SYM, 4)) == []  # even a resync waits for the barrier
    q.finished(cancel_all(2))
    assert numbers(q.pop_ready()) == [3, 4]


def test_a_cancel_all_behind_a_held_command_waits_for_it_too() -> None:
    q = SendQueue(8)
    assert pushed(q, place(0, "a"), cancel(1, "a"), cancel_all(2)) == [0]
    q.finished(place(0, "a"))
    assert numbers(q.pop_ready()) == [1]
    q.finished(cancel(1, "a"))
    assert numbers(q.pop_ready()) == [2]


def test_the_cap_bounds_calls_in_flight_and_one_means_strictly_in_order() -> None:
    q = SendQueue(2)
    assert pushed(q, place(0, "a"), place(1, "b"), place(2, "c")) == [0, 1]
    q.finished(place(1, "b"))
    assert numbers(q.pop_ready()) == [2]
    assert q.peak_in_flight == 2

    one = SendQueue(1)
    assert pushed(one, place(0, "a"), Resync(SYM, 1), place(2, "b")) == [0]
    for n, cmd in enumerate([place(0, "a"), Resync(SYM, 1)]):
        one.finished(cmd)
        assert numbers(one.pop_ready()) == [n + 1]


def test_dropped_commands_never_start() -> None:
    q = SendQueue(1)
    assert pushed(q, place(0, "a"), place(1, "b"), place(2, "c")) == [0]
    assert q.drop_waiting() == 2
    q.finished(place(0, "a"))
    assert q.pop_ready() == [] and q.idle


def test_bad_use_is_refused() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        SendQueue(0)
    with pytest.raises(ValueError, match="nothing in flight"):
        SendQueue(1).finished(place(0, "a"))


# ------------------------------------------------------------ the rules, under any interleaving

_cmd = st.one_of(
    st.tuples(st.just("place"), st.sampled_from("abcd"), st.sampled_from([BUY, SELL]),
              st.integers(99, 101)),
    st.tuples(st.just("cancel"), st.sampled_from("abcd"), st.just(0), st.just(0)),
    st.tuples(st.just("cancel_all"), st.just(""), st.just(0), st.just(0)),
    st.tuples(st.just("resync"), st.just(""), st.just(0), st.just(0)),
)
_step = st.one_of(
    st.tuples(st.just("push"), _cmd),
    st.tuples(st.just("finish"), st.integers(0, 20)),
)


def _make(n: int, kind: str, cid: str, side: int, price: int) -> Command:
    if kind == "place":
        return place(n, cid, side, price)
    if kind == "cancel":
        return cancel(n, cid)
    if kind == "cancel_all":
        return cancel_all(n)
    return Resync(SYM, n)


@settings(max_examples=400, deadline=None)
@example(cap=4, steps=[  # a cancel of our ask, then a bid through it
    ("push", ("place", "a", SELL, 100)), ("finish", 0), ("push", ("cancel", "a", 0, 0)),
    ("push", ("place", "b", BUY, 101)),
])
@given(cap=st.integers(1, 4), steps=st.lists(_step, max_size=60))
def test_any_interleaving_keeps_the_ordering_rules_and_sends_everything(
    cap: int, steps: list[tuple[str, object]]
) -> None:
    q = SendQueue(cap)
    emitted: list[Command] = []
    flying: list[Command] = []
    started: list[int] = []  # emission numbers, in start order
    finished_at: dict[int, int] = {}  # emission number -> how many had started by then
    last_place_before: dict[str, dict[int, Place | None]] = {}  # id -> cancel ts -> its order

    def start_ready() -> None:
        for cmd in q.pop_ready():
            n = cmd.ts
            # per id: every earlier command of the same id has finished
            for earlier in emitted[:n]:
                if getattr(earlier, "client_id", None) == getattr(cmd, "client_id", 0):
                    assert earlier.ts in finished_at, f"{cmd} overtook {earlier}"
            # a CancelAll: everything before it has finished; after it: it has finished
            for earlier in emitted[:n]:
                if type(cmd) is CancelAll or type(earlier) is CancelAll:
                    assert earlier.ts in finished_at, f"{cmd} started before {earlier} ended"
            # a place never overtakes the cancel of our own order it would trade with
            if type(cmd) is Place:
                for earlier in emitted[:n]:
                    if type(earlier) is Cancel and earlier.client_id in last_place_before:
                        target = last_place_before[earlier.client_id][earlier.ts]
                        if target is not None and target.side != cmd.side and (
                            cmd.price >= target.price if cmd.side == BUY
                            else cmd.price <= target.price
                        ):
                            assert earlier.ts in finished_at, f"{cmd} may cross {target}"
            flying.append(cmd)
            started.append(n)
        assert len(flying) == q.in_flight <= cap
        ids = [c.client_id for c in flying if isinstance(c, (Place, Cancel))]
        assert len(ids) == len(set(ids)), "two calls of one id in flight"
        if any(type(c) is CancelAll for c in flying):
            assert len(flying) == 1, "a CancelAll in flight with other calls"

    for action, arg in steps:
        if action == "push":
            kind, cid, side, price = arg  # type: ignore[misc]
            if kind == "place" and any(
                type(c) is Place and c.client_id == cid for c in emitted
            ):
                continue  # one place per client id: the engine's ledger refuses a second
            cmd = _make(len(emitted), kind, cid, side, price)
            if type(cmd) is Cancel:  # the order it cancels: the latest place of its id
                places = [c for c in emitted if type(c) is Place and c.client_id == cid]
                last_place_before.setdefault(cid, {})[cmd.ts] = places[-1] if places else None
            emitted.append(cmd)
            q.push(cmd)
        elif flying:
            done = flying.pop(arg % len(flying))  # type: ignore[operator]
            finished_at[done.ts] = len(started)
            q.finished(done)
        start_ready()
    while flying:  # the venue answers everything: every emitted command gets sent
        done = flying.pop(0)
        finished_at[done.ts] = len(started)
        q.finished(done)
        start_ready()
    assert sorted(started) == list(range(len(emitted)))
    if cap == 1:
        assert started == sorted(started), "one at a time must mean in emission order"
    assert q.idle


def test_the_places_remembered_for_rule_two_stay_bounded_keeping_the_newest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past a quarter over the bound the oldest quarter is dropped at once (dropping the oldest
    one at a time made every place slower as a session went on); the newest places, at least
    as many as the bound, still hold crossing ones."""
    import mmcore.send_queue as send_queue

    monkeypatch.setattr(send_queue, "_ORDERS_KEPT", 8)
    q = SendQueue(64)
    for n in range(30):
        q.push(place(n, f"o{n}", SELL, 100 + n))
        assert min(n + 1, 8) <= len(q._orders) <= 10
        assert set(q._orders) >= {f"o{k}" for k in range(max(0, n - 7), n + 1)}
        q.pop_ready()
        q.finished(place(n, f"o{n}", SELL, 100 + n))
    assert pushed(q, cancel(30, "o29"), place(31, "bid", BUY, 130)) == [30]  # crosses o29's ask
