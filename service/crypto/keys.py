"""Key material: versioned key-encryption keys, the blind-index secret, signing keys.

The key file (``creditgate keys init``, mode 0600) holds everything. When
``CREDITGATE_MASTER_KEY`` is set it supplies the active KEK instead, with
``CREDITGATE_PREVIOUS_MASTER_KEYS`` for the versions still wrapping some data
keys; the file then only contributes the index secret and signing keys.
A KMS or Vault Transit provider would implement :class:`KekProvider`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.db.types import utcnow

KEY_BYTES = 32
SIGNING_KEY_NAMES = ("audit", "tokens", "documents")


class KeyError_(Exception):
    """Key material is missing or malformed; messages never include key bytes."""


def kek_id_for(key: bytes) -> str:
    """A stable, non-secret fingerprint naming a KEK version."""
    return "kek-" + hashlib.sha256(b"creditgate/kek-id\x00" + key).hexdigest()[:12]


def decode_key(text: str, what: str) -> bytes:
    """Decode a base64 32-byte key, naming ``what`` (never the value) on error."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyError_(f"{what} must decode to {KEY_BYTES} bytes")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class KekProvider(Protocol):
    """Where KEKs come from; the vault only needs these two calls."""

    def active(self) -> tuple[str, bytes]:
        """The KEK new data keys are wrapped with, as (id, key)."""

    def get(self, kek_id: str) -> bytes:
        """A KEK by id, active or older; raises KeyError_ when unknown."""


@dataclass(frozen=True)
class Keyring:
    """All key material the process holds, loaded once at start-up."""

    keks: Mapping[str, bytes] = field(repr=False)
    active_kek_id: str
    index_secret: bytes = field(repr=False)
    signing_keys: Mapping[str, Ed25519PrivateKey] = field(repr=False)
    source: str = "file"

    def active(self) -> tuple[str, bytes]:
        """The active KEK as (id, key)."""
        return self.active_kek_id, self.keks[self.active_kek_id]

    def get(self, kek_id: str) -> bytes:
        """A KEK by id; unknown ids are an error (the key was retired or never loaded)."""
        try:
            return self.keks[kek_id]
        except KeyError:
            raise KeyError_(f"KEK {kek_id} is not available") from None

    def signing_key(self, name: str) -> Ed25519PrivateKey:
        """The Ed25519 key used for ``name`` (audit, tokens, documents)."""
        return self.signing_keys[name]


def _read_file(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyError_(f"no key file at {path}; run `creditgate keys init`") from None
    except (OSError, ValueError):
        raise KeyError_(f"key file {path} is unreadable or not JSON") from None
    if not isinstance(data, dict) or data.get("format") != 1:
        raise KeyError_(f"key file {path} has an unknown format")
    return data


def _write_file(path: Path, data: Mapping[str, object], *, exclusive: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, indent=2).encode()
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        return
    # Replace atomically so a crash mid-rotation never leaves half a key file.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def init_key_file(path: Path, *, with_kek: bool = True) -> bool:
    """Create a new key file; returns False (and changes nothing) when one exists."""
    if path.exists():
        return False
    keks = []
    active = None
    if with_kek:
        kek = secrets.token_bytes(KEY_BYTES)
        active = kek_id_for(kek)
        keks.append({"id": active, "key": _b64(kek), "created_at": utcnow().isoformat()})
    data = {
        "format": 1,
        "keks": keks,
        "active_kek": active,
        "index_secret": _b64(secrets.token_bytes(KEY_BYTES)),
        "signing_keys": {name: _b64(secrets.token_bytes(32)) for name in SIGNING_KEY_NAMES},
    }
    _write_file(path, data, exclusive=True)
    return True


def add_file_kek(path: Path) -> str:
    """Append a new KEK version to the key file and make it active; returns its id."""
    data = _read_file(path)
    kek = secrets.token_bytes(KEY_BYTES)
    new_id = kek_id_for(kek)
    keks = list(data.get("keks") or [])  # type: ignore[call-overload]
    keks.append({"id": new_id, "key": _b64(kek), "created_at": utcnow().isoformat()})
    data["keks"] = keks
    data["active_kek"] = new_id
    _write_file(path, data, exclusive=False)
    return new_id


def remove_file_kek(path: Path, kek_id: str) -> None:
    """Drop a retired KEK version from the key file (never the active one)."""
    data = _read_file(path)
    if data.get("active_kek") == kek_id:
        raise KeyError_("the active KEK cannot be retired")
    keks = [k for k in data.get("keks") or [] if k.get("id") != kek_id]  # type: ignore[attr-defined]
    if len(keks) == len(data.get("keks") or []):  # type: ignore[arg-type]
        raise KeyError_(f"KEK {kek_id} is not in the key file")
    data["keks"] = keks
    _write_file(path, data, exclusive=False)


class LiveKeks:
    """The KEKs of a running process, following changes to the key file.

    ``creditgate keys rotate`` adds a KEK to the key file, makes it active and
    rewraps data keys while the service runs. Every service process must then
    open keys wrapped by the new KEK and wrap new ones with it, without a
    restart: the file is re-read when its modification time changes, checked on
    every new data key and whenever a KEK id is not known. KEKs from the
    environment do not change while a process runs; see the README for their
    rotation.
    """

    def __init__(self, keyring: Keyring, key_file: Path, master_key: str | None = None,
                 previous_master_keys: tuple[str, ...] = ()) -> None:
        self._keyring = keyring
        self._file = key_file
        self._env = (master_key, previous_master_keys)
        self._seen = self._stamp()

    def _stamp(self) -> int | None:
        try:
            return self._file.stat().st_mtime_ns
        except OSError:
            return None

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            self._keyring = load_keyring(self._file, *self._env)
            self._seen = stamp

    def active(self) -> tuple[str, bytes]:
        """The active KEK as (id, key), as the key file says now."""
        self._refresh()
        return self._keyring.active()

    def get(self, kek_id: str) -> bytes:
        """A KEK by id, re-reading the key file once if it is not known yet."""
        try:
            return self._keyring.get(kek_id)
        except KeyError_:
            self._refresh()
            return self._keyring.get(kek_id)


def load_keyring(
    key_file: Path, master_key: str | None = None, previous_master_keys: tuple[str, ...] = ()
) -> Keyring:
    """Load key material from the file, with KEKs from the environment when given."""
    data = _read_file(key_file)
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyError_(f"key file {key_file} must not be readable by group or others (chmod 600)")
    keks: dict[str, bytes] = {}
    for entry in data.get("keks") or []:  # type: ignore[attr-defined]
        raw = decode_key(str(entry.get("key", "")), f"KEK {entry.get('id')} in {key_file}")
        keks[kek_id_for(raw)] = raw
    active = data.get("active_kek")
    source = "file"
    if master_key:
        env_key = decode_key(master_key, "CREDITGATE_MASTER_KEY")
        active = kek_id_for(env_key)
        keks[active] = env_key
        for i, prev in enumerate(previous_master_keys):
            raw = decode_key(prev, f"CREDITGATE_PREVIOUS_MASTER_KEYS[{i}]")
            keks[kek_id_for(raw)] = raw
        source = "environment"
    if not isinstance(active, str) or active not in keks:
        raise KeyError_("no active KEK: set CREDITGATE_MASTER_KEY or run `creditgate keys init`")
    index_secret = decode_key(str(data.get("index_secret", "")), "index secret")
    signing_raw = data.get("signing_keys") or {}
    signing: dict[str, Ed25519PrivateKey] = {}
    for name in SIGNING_KEY_NAMES:
        seed = decode_key(str(signing_raw.get(name, "")), f"signing key {name!r}")  # type: ignore[attr-defined]
        signing[name] = Ed25519PrivateKey.from_private_bytes(seed)
    return Keyring(keks, active, index_secret, signing, source)
