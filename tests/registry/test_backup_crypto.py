"""The backup envelope on its own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.backup_crypto import BackupError, decrypt_backup, encrypt_backup

KEY = b"k" * 32


def test_round_trip_and_fresh_nonces() -> None:
    doc = {"format": "x", "data": {"agents": [{"agent_id": "a"}]}}
    first, second = encrypt_backup(doc, KEY), encrypt_backup(doc, KEY)
    assert first != second
    assert decrypt_backup(first, KEY) == doc


@given(st.integers(min_value=0))
def test_any_flipped_byte_is_refused(position: int) -> None:
    blob = bytearray(encrypt_backup({"a": 1}, KEY))
    blob[position % len(blob)] ^= 0x80
    with pytest.raises(BackupError):
        decrypt_backup(bytes(blob), KEY)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(BackupError, match="wrong ENCRYPTION_KEY"):
        decrypt_backup(encrypt_backup({"a": 1}, KEY), b"z" * 32)
