"""Key file handling, environment KEKs and the blind index."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from service.crypto.blind_index import BlindIndex
from service.crypto.keys import KeyError_, add_file_kek, init_key_file, kek_id_for, load_keyring


def test_init_creates_0600_file_once(tmp_path: Path) -> None:
    path = tmp_path / "k" / "keys.json"
    assert init_key_file(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert init_key_file(path) is False
    assert path.read_bytes() == before


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_key_file(path)
    path.chmod(0o644)
    with pytest.raises(KeyError_, match="chmod 600"):
        load_keyring(path)


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="keys init"):
        load_keyring(tmp_path / "none.json")


def test_rotation_keeps_old_versions_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_key_file(path)
    first = load_keyring(path)
    new_id = add_file_kek(path)
    second = load_keyring(path)
    assert second.active_kek_id == new_id != first.active_kek_id
    assert second.get(first.active_kek_id) == first.keks[first.active_kek_id]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_environment_master_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_key_file(path, with_kek=False)
    env_key = os.urandom(32)
    old = os.urandom(32)
    ring = load_keyring(path, base64.b64encode(env_key).decode(), (base64.b64encode(old).decode(),))
    assert ring.active() == (kek_id_for(env_key), env_key)
    assert ring.get(kek_id_for(old)) == old
    assert ring.source == "environment"
    with pytest.raises(KeyError_, match="CREDITGATE_MASTER_KEY") as info:
        load_keyring(path, base64.b64encode(b"short").decode())
    assert base64.b64encode(b"short").decode() not in str(info.value)
    with pytest.raises(KeyError_, match="no active KEK"):
        load_keyring(path)


def test_blind_index_is_keyed_and_stable() -> None:
    secret = os.urandom(32)
    a = BlindIndex(secret).compute("11010519491231002X")
    assert len(a) == 16
    assert a == BlindIndex(secret).compute("11010519491231002X")
    assert a != BlindIndex(os.urandom(32)).compute("11010519491231002X")
    assert a != BlindIndex(secret, kind="uscc").compute("11010519491231002X")
    assert a != BlindIndex(secret).compute("110105194912310028")
