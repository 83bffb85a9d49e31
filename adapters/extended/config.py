"""Configuration of the Extended adapter, beside the adapter it configures."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from adapters.extended.errors import ExtendedConfigError

__all__ = ["MAX_ORDER_EXPIRY_S", "ExtendedConfig"]

MAX_ORDER_EXPIRY_S = {"mainnet": 90 * 86400, "testnet": 28 * 86400, "local": 28 * 86400}
"""The longest order lifetime each network accepts (the emulator signs with the testnet domain
and so takes testnet's)."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{32,}")
_ENV_FIELDS = ("api_key_env", "stark_private_key_env", "stark_public_key_env", "vault_env")


class ExtendedConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach Extended and how hard to try.

    network: "mainnet", "testnet" (Starknet Sepolia) or "local" (an emulator at ``base_url``);
        default "testnet". Selects the endpoints and the Starknet signing domain.
    base_url: overrides the REST and stream host, e.g. ``http://127.0.0.1:8080``; required for
        "local", optional otherwise (a proxy). No user or password in it; plain http only for
        "local" or a host on this machine. The paths ``/api/v1`` and
        ``/stream.extended.exchange/v1`` are appended.
    api_key_env, stark_private_key_env, stark_public_key_env, vault_env: names of the environment
        variables holding the credentials (the values are never logged or recorded).
    key_file: path of a JSON file ``{"api_key","stark_private_key","stark_public_key","vault"}``
        used instead of the environment when set; default "" (use the environment). Refused
        unless only its owner may read or write it (mode 0600 or 0400; a group may read one
        root owns, 0440, as Kubernetes mounts a secret with an fsGroup).
    dead_man_switch_s: the venue's dead man's switch countdown in whole seconds; the adapter
        re-arms it every ``dead_man_rearm_s``. 0 turns the switch off. Default 60 / 15.
    heartbeat_s: WebSocket ping interval; a socket that misses its pong is reconnected. Default 10.
    stale_after_s: a book stream silent this long is reconnected; the venue sends a fresh
        snapshot about every minute, so keep it above 60. Default 75.
    reconnect_min_s, reconnect_max_s: exponential reconnect backoff: the n-th delay is drawn
        between half and all of min(reconnect_max_s, reconnect_min_s * 2**n) (``Backoff``).
    rest_timeout_s: timeout of one REST call, and of a WebSocket handshake. Default 10.
    rest_retries: retries of a REST call after 429, 5xx or a timeout (places reuse the same
        signed order, so a retry is idempotent). Default 4.
    rest_backoff_min_s, rest_backoff_max_s: backoff bounds between those retries.
    order_expiry_s: lifetime given to every order, 60 s up to the venue's maximum: 90 days on
        mainnet, 28 days on testnet and the local emulator (the venue refuses longer, 1135).
    self_trade_protection: "ACCOUNT" (default), "CLIENT" or "DISABLED".
    cancel_unknown_orders: true: the session's markets are ours, so a cancel-all (start-up,
        halts, shutdown) is one mass cancel of those markets and the reconcile cancels any open
        order there this session did not place. false: orders someone else placed on the
        account stay; cancel-alls name our orders by external id, and the reconcile cancels
        only orders whose ids are a live session's (stale ones of an earlier run). Orders on
        markets the session does not trade are never touched. Default true.
    reconcile_interval_s: periodic REST reconcile of open orders; 0 = only after reconnects.
    late_place_watch_s: at close, how long places whose outcome stayed unknown (every attempt
        timed out, and the venue never listed them) are looked for at the venue and canceled if
        they landed (``adapters.extended.late_places``); 0 = not looked for. A place still not
        found then keeps the dead man's switch armed. Default 10.
    position_hold_s: after a gap in the account stream (or its reconnect), the venue's position
        frames are held back until a reconcile has passed on the fills the gap lost, at most this
        long (``adapters.extended.position_hold``); 0 passes them on at once. Also how long an
        order the venue ended with fills we have not seen keeps counting before a reconcile that
        cannot find them ends it, at least 2 s (``adapters.extended.tracker``). Default 5.
    book_depth: 0 for the full-depth book stream, 1 for best bid/offer only.
    subscribe_trades, subscribe_funding, subscribe_mark: optional public streams; default on.
    seed: seeds the jitter and the order nonces, so a run is reproducible.
    """

    network: Literal["mainnet", "testnet", "local"] = "testnet"
    base_url: str = ""
    api_key_env: str = "EXTENDED_API_KEY"
    stark_private_key_env: str = "EXTENDED_STARK_PRIVATE_KEY"
    stark_public_key_env: str = "EXTENDED_STARK_PUBLIC_KEY"
    vault_env: str = "EXTENDED_VAULT"
    key_file: str = ""
    dead_man_switch_s: int = 60
    dead_man_rearm_s: float = 15.0
    heartbeat_s: float = 10.0
    stale_after_s: float = 75.0
    reconnect_min_s: float = 0.25
    reconnect_max_s: float = 30.0
    rest_timeout_s: float = 10.0
    rest_retries: int = 4
    rest_backoff_min_s: float = 0.2
    rest_backoff_max_s: float = 5.0
    order_expiry_s: int = 7 * 86400
    self_trade_protection: Literal["ACCOUNT", "CLIENT", "DISABLED"] = "ACCOUNT"
    cancel_unknown_orders: bool = True
    reconcile_interval_s: float = 30.0
    late_place_watch_s: float = 10.0
    position_hold_s: float = 5.0
    book_depth: int = 0
    subscribe_trades: bool = True
    subscribe_funding: bool = True
    subscribe_mark: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in _ENV_FIELDS:
            value = getattr(self, name)
            # a key pasted here instead of its variable's name would be echoed in errors and
            # recorded in the log header with the config: refuse it, without showing it
            if not _ENV_NAME.fullmatch(value) or _KEY_LIKE.fullmatch(value):
                raise ExtendedConfigError(
                    f"venue.{name}: expected the name of an environment variable "
                    f"([A-Za-z_][A-Za-z0-9_]*, e.g. EXTENDED_API_KEY), found a value of "
                    f"{len(value)} characters that is not one (not shown: it may be a secret)"
                )
        if _KEY_LIKE.fullmatch(self.key_file.strip()):
            raise ExtendedConfigError(
                f"venue.key_file: expected the path of a key file, found a value of "
                f"{len(self.key_file)} hex digits (not shown: it may be a key)"
            )
        if self.network == "local" and not self.base_url:
            raise ExtendedConfigError("venue.base_url: expected a URL for network=local")
        if self.base_url:
            _check_base_url(self.base_url, self.network)
        if self.dead_man_switch_s < 0:
            raise ExtendedConfigError(
                f"venue.dead_man_switch_s: expected >= 0, found {self.dead_man_switch_s}"
            )
        if self.dead_man_switch_s and not 0 < self.dead_man_rearm_s < self.dead_man_switch_s:
            raise ExtendedConfigError(
                "venue.dead_man_rearm_s: expected 0 < rearm < dead_man_switch_s="
                f"{self.dead_man_switch_s}, found {self.dead_man_rearm_s}"
            )
        for name in ("heartbeat_s", "stale_after_s", "reconnect_min_s", "rest_timeout_s"):
            if getattr(self, name) <= 0:
                raise ExtendedConfigError(
                    f"venue.{name}: expected > 0, found {getattr(self, name)}"
                )
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ExtendedConfigError(
                f"venue.reconnect_max_s: expected >= reconnect_min_s, "
                f"found {self.reconnect_max_s} < {self.reconnect_min_s}"
            )
        if self.rest_backoff_max_s < self.rest_backoff_min_s or self.rest_backoff_min_s < 0:
            raise ExtendedConfigError(
                f"venue.rest_backoff_*: expected 0 <= min <= max, "
                f"found {self.rest_backoff_min_s}, {self.rest_backoff_max_s}"
            )
        if self.late_place_watch_s < 0:
            raise ExtendedConfigError(
                f"venue.late_place_watch_s: expected >= 0, found {self.late_place_watch_s}"
            )
        if self.rest_retries < 0:
            raise ExtendedConfigError(
                f"venue.rest_retries: expected >= 0, found {self.rest_retries}"
            )
        max_expiry = MAX_ORDER_EXPIRY_S[self.network]
        if not 60 <= self.order_expiry_s <= max_expiry:
            raise ExtendedConfigError(
                f"venue.order_expiry_s: expected 60 s .. {max_expiry // 86400} days "
                f"({max_expiry} s) on network={self.network}, found {self.order_expiry_s}"
            )
        if self.book_depth not in (0, 1):
            raise ExtendedConfigError(
                f"venue.book_depth: expected 0 or 1, found {self.book_depth}"
            )
        if not self.position_hold_s >= 0:
            raise ExtendedConfigError(
                f"venue.position_hold_s: expected >= 0, found {self.position_hold_s}"
            )
        if self.reconcile_interval_s < 0:
            raise ExtendedConfigError(
                f"venue.reconcile_interval_s: expected >= 0, "
                f"found {self.reconcile_interval_s}"
            )

    @property
    def testnet(self) -> bool:
        """True when the signing domain and default endpoints are Sepolia's."""
        return self.network != "mainnet"


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_base_url(url: str, network: str) -> None:
    """http(s)://host[:port], with no user or password (the SDK writes the whole URL into its
    error lines, and the config goes into the log header); plain http only to an emulator or a
    proxy on this machine: the API key and signed orders must not cross a network in clear."""
    if "@" in url:
        raise ExtendedConfigError(
            "venue.base_url: expected a URL without a user or password, found one with an '@' "
            "(not shown: it may hold a credential)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExtendedConfigError(
            f"venue.base_url: expected http(s)://host[:port], found {url!r}"
        )
    if parts.scheme == "http" and network != "local" and parts.hostname not in _LOOPBACK:
        raise ExtendedConfigError(
            f"venue.base_url: expected https:// for network={network} (the API key and signed "
            f"orders would cross the network in clear; plain http only to 127.0.0.1), found "
            f"{url!r}"
        )
