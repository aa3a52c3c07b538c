"""Per-subject data keys on real databases: placement binding, rotation, crypto-shredding."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from policies import Decision, FieldKind, Role
from service.crypto.envelope import DecryptionError
from service.crypto.keys import add_file_kek, load_keyring
from service.crypto.models import SubjectKey
from service.crypto.rotation import key_usage, rewrap_all
from service.crypto.vault import FieldPlace, FieldVault, KeyShredded, SealedField
from service.db.raw import of_session
from service.gate.grant import GateViolation, issue
from service.runtime import Services
from service.subjects.models import Subject
from service.subjects.repository import SubjectData, find_subject_id, register_subject

PERSON = SubjectData("11010519491231002X", "张三丰", "13800138000", "北京市朝阳区建国路88号", "6222021234567890123")
OTHER = SubjectData("110105200001010112", "李四", "13900139000")


def _grant(subject_id: str, fields: frozenset[FieldKind] = frozenset(FieldKind)) -> object:
    return issue(
        Decision(allowed=True, reason="self", subject_id=subject_id, role=Role.SUBJECT,
                 categories=frozenset(), fields=fields, consent_id=None, purpose=None)
    )


def _sealed(subject: Subject, kind: str, column: str) -> SealedField:
    return SealedField(FieldPlace("subjects", column, subject.id), getattr(subject, column), kind)


def _register(services: Services, data: SubjectData = PERSON) -> str:
    with services.session() as s, s.begin():
        subject_id, created = register_subject(s, services.vault, services.blind_index, data)
    assert created
    return subject_id


def _read_name(services: Services, subject_id: str, vault: FieldVault | None = None) -> str | None:
    with services.session() as s:
        subject = s.get(Subject, subject_id)
        assert subject is not None
        out = (vault or services.vault).decrypt(
            _grant(subject_id), of_session(s), subject_id, {"name": _sealed(subject, "name", "name_ct")}
        )
    return out["name"]


def test_register_find_and_decrypt(services: Services) -> None:
    subject_id = _register(services)
    with services.session() as s, s.begin():
        again, created = register_subject(s, services.vault, services.blind_index, PERSON)
        assert (again, created) == (subject_id, False)
        assert find_subject_id(s, services.blind_index, "11010519491231002x") == subject_id
        assert find_subject_id(s, services.blind_index, OTHER.id_number) is None
    assert _read_name(services, subject_id) == "张三丰"


def test_ciphertext_moved_to_another_row_or_column_fails(services: Services) -> None:
    a = _register(services)
    b = _register(services, OTHER)
    with services.session() as s, s.begin():
        sa, sb = s.get(Subject, a), s.get(Subject, b)
        assert sa is not None and sb is not None
        # Same subject, other column: the mobile ciphertext put where the name belongs.
        moved = SealedField(FieldPlace("subjects", "name_ct", a), sa.mobile_ct, "name")
        with pytest.raises(DecryptionError):
            services.vault.decrypt(_grant(a), of_session(s), a, {"name": moved})
        # Another subject's ciphertext copied into this row.
        s.execute(update(Subject).where(Subject.id == b).values(name_ct=sa.name_ct))  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        _read_name(services, b)


def test_tampered_ciphertext_fails(services: Services) -> None:
    a = _register(services)
    with services.session() as s, s.begin():
        subject = s.get(Subject, a)
        assert subject is not None
        blob = bytearray(subject.name_ct)
        blob[-1] ^= 0xFF
        s.execute(update(Subject).where(Subject.id == a).values(name_ct=bytes(blob)))  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        _read_name(services, a)


def test_decrypt_requires_a_covering_grant(services: Services) -> None:
    a = _register(services)
    b = _register(services, OTHER)
    with services.session() as s:
        subject = s.get(Subject, a)
        assert subject is not None
        fields = {"name": _sealed(subject, "name", "name_ct")}
        for bad in (None, object(), "grant", _grant(b), _grant(a, frozenset({FieldKind.MOBILE}))):
            with pytest.raises(GateViolation):
                services.vault.decrypt(bad, of_session(s), a, fields)
    denied = Decision(allowed=False, reason="consent_required", subject_id=a, role=Role.INSTITUTION,
                      categories=frozenset(), fields=frozenset(), consent_id=None, purpose=None)
    with pytest.raises(GateViolation):
        issue(denied)


def test_rotation_rewraps_every_key_and_keeps_fields_readable(services: Services) -> None:
    ids = [_register(services), _register(services, OTHER)]
    old_kek = services.keyring.active_kek_id
    before = {}
    with services.session() as s:
        for row in s.execute(select(SubjectKey)).scalars():
            before[row.id] = row.wrapped_key
    add_file_kek(services.settings.key_file)
    ring = load_keyring(services.settings.key_file)
    advanced: list[int] = []
    result = rewrap_all(services.engine, ring, batch_size=1, progress=advanced.append)
    assert result.rewrapped == 2 and result.remaining == 0 and sum(advanced) == 2
    assert key_usage(services.engine) == {ring.active_kek_id: 2}
    with services.session() as s:
        for row in s.execute(select(SubjectKey)).scalars():
            assert row.wrapped_key != before[row.id]
    rotated = FieldVault(ring)
    for sid, name in zip(ids, ("张三丰", "李四"), strict=True):
        assert _read_name(services, sid, rotated) == name
    # Without the old KEK the rewrapped keys still open; a second pass has nothing to do.
    without_old = type(ring)({ring.active_kek_id: ring.keks[ring.active_kek_id]}, ring.active_kek_id,
                             ring.index_secret, ring.signing_keys)
    assert old_kek not in without_old.keks
    assert _read_name(services, ids[0], FieldVault(without_old)) == "张三丰"
    assert rewrap_all(services.engine, ring).rewrapped == 0


def test_crypto_shredding_makes_fields_unreadable(services: Services) -> None:
    a = _register(services)
    b = _register(services, OTHER)
    with services.session() as s, s.begin():
        assert services.vault.shred(s, a) is True
    with pytest.raises(KeyShredded):
        _read_name(services, a)
    # The ciphertext is still there, and no key in the database opens it.
    with services.session() as s:
        subject = s.get(Subject, a)
        assert subject is not None and subject.name_ct
    assert _read_name(services, b) == "李四"
