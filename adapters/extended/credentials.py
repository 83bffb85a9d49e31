"""Extended credentials, read from the environment or a key file and never shown.

``Secret`` hides its value from ``repr``/``str``/formatting; only ``reveal()`` gives it out, and
only the code that hands it to the SDK or puts it in a header calls that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from adapters.extended.config import ExtendedConfig
from adapters.extended.errors import ExtendedCredentialsError

__all__ = ["Credentials", "Secret", "load_credentials"]


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


def _hex(value: str, what: str) -> str:
    v = value.strip()
    if not v.startswith("0x"):
        v = "0x" + v
    try:
        int(v, 16)
    except ValueError:
        raise ExtendedCredentialsError(
            f"{what}: expected a hex number, found a value of {len(value)} characters"
        ) from None
    return v


def _vault(value: int | str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ExtendedCredentialsError(
            f"{where}: expected an integer vault id, found {value!r}"
        ) from None


def load_credentials(
    config: ExtendedConfig, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Credentials from ``config.key_file`` when set, else from the environment variables."""
    if config.key_file:
        path = Path(config.key_file)
        try:
            raw = msgspec.json.decode(path.read_bytes(), type=_KeyFile)
        except OSError as exc:
            raise ExtendedCredentialsError(
                f"key_file {path}: expected a readable file, found {exc.strerror}"
            ) from None
        except msgspec.DecodeError as exc:
            raise ExtendedCredentialsError(
                f"key_file {path}: expected JSON with api_key, stark_private_key, "
                f"stark_public_key, vault; {exc}"
            ) from None
        return Credentials(
            Secret(raw.api_key),
            Secret(_hex(raw.stark_private_key, f"{path}: stark_private_key")),
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
        Secret(env[config.api_key_env]),
        Secret(_hex(env[config.stark_private_key_env], config.stark_private_key_env)),
        _hex(env[config.stark_public_key_env], config.stark_public_key_env),
        _vault(env[config.vault_env], config.vault_env),
    )
