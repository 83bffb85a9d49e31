"""How files kept per account name the account."""

from __future__ import annotations

from mmcore.account import account_file_stem, account_label


def test_the_label_names_venue_network_and_account() -> None:
    assert account_label("extended", "mainnet", "10001") == "extended/mainnet/10001"


def test_the_file_stem_replaces_only_what_a_file_name_should_not_hold() -> None:
    assert account_file_stem("extended", "mainnet", "10001") == "extended-mainnet-10001"
    assert account_file_stem("extended", "local", "10001@127.0.0.1:8080") == (
        "extended-local-10001_127.0.0.1_8080"
    )
    assert "/" not in account_file_stem("extended", "mainnet", "../../etc")
