"""Extended credentials, read from the environment or a key file and never shown.

``Secret`` hides its value from ``repr``/``str``/formatting; only ``reveal()`` gives it out, and
only the code that hands it to the SDK or puts it in a header calls that.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from adapters.extended.config import ExtendedConfig
from adapters.extended.errors import ExtendedCredentialsError

__all__ = [
    "STARK_CURVE_ORDER",
    "Credentials",
    "Secret",
    "account_id",
    "load_credentials",
    "redact_hex",
]

STARK_CURVE_ORDER = 0x0800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F
"""The order of the Stark curve's generator: a private key is a number in ``[1, order)``."""

_LONG_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]{32,}")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `.*?`(?= - at|$)", re.S)


def redact_hex(text: str) -> str:
    """``text`` with every run of 32 or more hex digits (a key, a hash) replaced: for error
    messages of libraries that quote what they were given, before they reach a log or an event."""
    return _LONG_HEX.sub("<hex withheld>", text)


class Secret:
    """A string that prints as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret: refusing to pickle a credential")


class Credentials:
    """API key, Stark key pair and vault (position id) of one Extended sub-account."""

    __slots__ = ("api_key", "stark_private_key", "stark_public_key", "vault")

    def __init__(
        self, api_key: Secret, stark_private_key: Secret, stark_public_key: str, vault: int
    ) -> None:
        self.api_key = api_key
        self.stark_private_key = stark_private_key
        self.stark_public_key = stark_public_key
        self.vault = vault

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key=***, stark_private_key=***, "
            f"stark_public_key={self.stark_public_key}, vault={self.vault})"
        )


class _KeyFile(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str
    stark_private_key: str
    stark_public_key: str
    vault: int | str


_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]+")


def _hex(value: str, what: str) -> str:
    # a pattern, not int(v, 16): that also takes "_" and spaces, which the SDK then refuses
    # with a bare assertion
    v = value.strip()
    if not _HEX.fullmatch(v):
        raise ExtendedCredentialsError(
            f"{what}: expected a hex number, found a value of {len(value)} characters"
        )
    return v if v.startswith("0x") else "0x" + v


def _private_key(value: str, what: str) -> str:
    """``_hex``, and a number the curve can sign with: a key with a stray digit would otherwise
    be accepted here and fail in the SDK with a message that quotes it."""
    key = _hex(value, what)
    if not 0 < int(key, 16) < STARK_CURVE_ORDER:
        raise ExtendedCredentialsError(
            f"{what}: expected a Stark private key (above 0, below the curve order: at most 64 "
            f"hex digits), found a value of {len(value)} characters"
        )
    return key


def _vault(value: int | str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        # never the value: a key put in the vault's variable by mistake must not be printed
        raise ExtendedCredentialsError(
            f"{where}: expected an integer vault id, found a value of {len(str(value))} "
            "characters"
        ) from None


def _read_key_file(path: Path) -> _KeyFile:
    """The key file's fields. Refused, never quoted: a file owned by another user than this
    one or root; one that others may read or write (as ssh refuses such a private key), or a
    group may, but read when root owns it; one that is not UTF-8 JSON of the four fields."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError as exc:
        raise ExtendedCredentialsError(
            f"key_file {path}: expected a readable file, found {exc.strerror}"
        ) from None
    if st.st_uid not in (os.getuid(), 0):
        raise ExtendedCredentialsError(
            f"key_file {path}: expected a file owned by this user (uid {os.getuid()}) or root, "
            f"found one owned by uid {st.st_uid}"
        )
    # a group may read a file root owns (a Kubernetes secret mounted with an fsGroup is 0440);
    # otherwise only the owner may read it, and no one else may write it
    if st.st_mode & (0o037 if st.st_uid == 0 else 0o077):
        raise ExtendedCredentialsError(
            f"key_file {path}: expected a file only its owner may read or write (mode 0600 or "
            f"stricter: chmod 600 {path}; a Kubernetes secret: defaultMode 0400, or 0440 with "
            f"an fsGroup; or use the environment variables), found mode "
            f"{stat.S_IMODE(st.st_mode):04o}"
        )
    try:
        return msgspec.json.decode(data, type=_KeyFile)
    except UnicodeDecodeError as exc:  # holds the whole file: never shown
        raise ExtendedCredentialsError(
            f"key_file {path}: expected UTF-8 JSON, found a byte that is not text at offset "
            f"{exc.start}"
        ) from None
    except msgspec.DecodeError as exc:
        # msgspec quotes an unknown field's name, which may be a key put where a name goes
        why = _UNKNOWN_FIELD.sub("Object contains an unknown field (name not shown)", str(exc))
        raise ExtendedCredentialsError(
            f"key_file {path}: expected JSON with api_key, stark_private_key, "
            f"stark_public_key, vault; {redact_hex(why)}"
        ) from None


def load_credentials(
    config: ExtendedConfig, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Credentials from ``config.key_file`` when set, else from the environment variables."""
    if config.key_file:
        path = Path(config.key_file)
        raw = _read_key_file(path)
        return Credentials(
            Secret(raw.api_key.strip()),
            Secret(_private_key(raw.stark_private_key, f"{path}: stark_private_key")),
            _hex(raw.stark_public_key, f"{path}: stark_public_key"),
            _vault(raw.vault, f"{path}: vault"),
        )
    env = os.environ if environ is None else environ
    names = (
        config.api_key_env,
        config.stark_private_key_env,
        config.stark_public_key_env,
        config.vault_env,
    )
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ExtendedCredentialsError(
            f"Extended credentials: expected environment variables {', '.join(names)}, "
            f"found {', '.join(missing)} unset or empty"
        )
    return Credentials(
        Secret(env[config.api_key_env].strip()),
        Secret(_private_key(env[config.stark_private_key_env], config.stark_private_key_env)),
        _hex(env[config.stark_public_key_env], config.stark_public_key_env),
        _vault(env[config.vault_env], config.vault_env),
    )


def account_id(config: ExtendedConfig, credentials: Credentials) -> str:
    """The account's identity for what is kept per account (``VenueAdapter.account_id``: the
    session lock, the day-PnL file): its vault, which Extended numbers uniquely on each network
    (a ``base_url`` proxy reaches the same account, so it is not part of it); on a local
    emulator the vault at the emulator's address (``10001@127.0.0.1:8080``), since every
    emulator numbers its accounts from 10001. Never a key: the vault is an identifier only."""
    vault = str(credentials.vault)
    if config.network == "local":
        return f"{vault}@{urlsplit(config.base_url).netloc}"
    return vault
