"""Test helpers: register callers through the real admin functions and mint their
tokens the real way.

Every helper needs started ``services`` (the ``services`` fixture): registration
writes audit entries. Tokens are signed by ``services.tokens`` exactly as the
token endpoint signs them, and the resource server checks them against the
database like any other token, so suspending an institution or disabling an
account affects a helper's token at once.

Typical use in an end-to-end test::

    from policies import Role
    from tests.service.identity.tokens import issue_token_for, new_resident_id

    def test_something(services):
        bank = issue_token_for(services, Role.INSTITUTION, institution_type="bank")
        person = issue_token_for(services, Role.SUBJECT)            # a new subject with an account
        with TestClient(create_app(services=services)) as client:
            client.post("/v1/consent-requests", headers=bank.headers,
                        json={"id_number": person.id_number, ...})
            client.get("/v1/me/consent-requests", headers=person.headers)

    minor = new_resident_id(age=10)
    parent = issue_token_for(services, Role.GUARDIAN, wards=[minor])  # registers the ward too

The real HTTP flows are available too: :func:`client_credentials_token`
(``client_secret_basic``), :func:`assertion_for` (``private_key_jwt``) and
:func:`login_token` (authorization code + PKCE through the login form).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import Key, OKPKey

from policies import Role, load_purposes, make_resident_id, make_uscc
from service.admin.registry import (
    Actor,
    register_account,
    register_guardianship,
    register_institution,
    register_provider,
)
from service.db.types import china_today
from service.identity.jose import StrictJWSRegistry
from service.identity.policy import WEB_CLIENT_ID, scopes_for
from service.runtime import Services

#: Password given to accounts these helpers create (meets the 12-character rule).
DEFAULT_PASSWORD = "correct horse battery staple"
_TEST_ACTOR = Actor("operator", "test-setup")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ASSERTION_REGISTRY = StrictJWSRegistry(["EdDSA", "ES256"])


# --- identifiers --------------------------------------------------------------------------------


def new_uscc() -> str:
    """A random, valid unified social credit code (GB 32100)."""
    body = "91" + "110105" + "".join(secrets.choice(_USCC_ALPHABET) for _ in range(9))
    return make_uscc(body)


def new_resident_id(age: int = 30, *, today: date | None = None, sex: str = "female") -> str:
    """A random, valid resident ID number of someone exactly ``age`` years old today (China date)."""
    day = today or china_today()
    try:
        birthday = day.replace(year=day.year - age)
    except ValueError:  # 29 February
        birthday = day.replace(year=day.year - age, day=28)
    birth = birthday - timedelta(days=1 + secrets.randbelow(300))
    return make_resident_id("110105", birth, secrets.randbelow(100), sex)


def new_username(prefix: str = "user") -> str:
    """A fresh valid login handle."""
    return f"{prefix}-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


# --- registration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestInstitution:
    """A registered institution and its client credentials."""

    __test__ = False
    id: str
    uscc: str
    type: str
    permitted_purposes: tuple[str, ...]
    client_id: str
    client_secret: str | None


@dataclass(frozen=True)
class TestProvider:
    """A registered provider and its client credentials."""

    __test__ = False
    id: str
    uscc: str
    provider_type: str
    client_id: str
    client_secret: str | None


@dataclass(frozen=True)
class TestAccount:
    """A registered account; ``id_number`` is set for subjects (test data only)."""

    __test__ = False
    id: str
    username: str
    password: str
    role: Role
    subject_id: str | None = None
    id_number: str | None = None


def purposes_for(institution_type: str) -> list[str]:
    """Every purpose an institution of this type may be permitted."""
    return sorted(code for code, p in load_purposes().items() if institution_type in p.institution_types)


def make_institution(
    services: Services,
    *,
    institution_type: str = "bank",
    permitted_purposes: Iterable[str] | None = None,
    name: str | None = None,
    auth_method: str = "client_secret_basic",
    jwk: Mapping[str, Any] | None = None,
) -> TestInstitution:
    """Register an institution (all purposes open to its type unless given)."""
    purposes = list(permitted_purposes) if permitted_purposes is not None else purposes_for(institution_type)
    done = register_institution(
        services, actor=_TEST_ACTOR, name=name or f"测试机构 {uuid.uuid4().hex[:6]}", uscc=new_uscc(),
        institution_type=institution_type, permitted_purposes=purposes, auth_method=auth_method,
        jwk=dict(jwk) if jwk is not None else None,
    )
    inst = done.record
    return TestInstitution(inst.id, inst.uscc, institution_type, tuple(inst.permitted_purposes),  # type: ignore[attr-defined]
                           done.credentials.client_id, done.credentials.client_secret)


def make_provider(
    services: Services,
    *,
    provider_type: str = "court",
    name: str | None = None,
    auth_method: str = "client_secret_basic",
    jwk: Mapping[str, Any] | None = None,
    level: str | None = "county",
) -> TestProvider:
    """Register a record provider (at county level unless ``level`` says otherwise)."""
    done = register_provider(
        services, actor=_TEST_ACTOR, name=name or f"测试信源单位 {uuid.uuid4().hex[:6]}", uscc=new_uscc(),
        provider_type=provider_type, auth_method=auth_method, jwk=dict(jwk) if jwk is not None else None,
        level=level,
    )
    return TestProvider(done.record.id, done.record.uscc, provider_type, done.credentials.client_id,
                        done.credentials.client_secret)


def make_account(
    services: Services,
    role: Role | str,
    *,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    id_number: str | None = None,
    name: str = "张三",
) -> TestAccount:
    """Register an account; a subject gets a new person (random adult ID) unless ``id_number`` is given."""
    role = Role(role)
    handle = username or new_username(role.value)
    number = (id_number or new_resident_id()) if role == Role.SUBJECT else None
    account = register_account(
        services, actor=_TEST_ACTOR, username=handle, password=password, role=role.value,
        id_number=number, name=name if role == Role.SUBJECT else None,
    )
    return TestAccount(account.id, handle, password, role, account.subject_id, number)


def make_guardianship(services: Services, guardian_account_id: str, ward_id_number: str,
                      ward_name: str = "小明") -> str:
    """Link a guardian to a minor (registering the ward if unknown); returns the ward's subject id."""
    link = register_guardianship(services, actor=_TEST_ACTOR, guardian_account_id=guardian_account_id,
                                 ward_id_number=ward_id_number, ward_name=ward_name)
    return link.ward_subject_id


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A registered caller and a valid access token for it."""

    role: Role
    token: str
    client_id: str
    actor_id: str
    institution: TestInstitution | None = None
    provider: TestProvider | None = None
    account: TestAccount | None = None
    ward_subject_ids: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer …"}``."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def subject_id(self) -> str | None:
        """The subject pseudonym of a subject caller."""
        return self.account.subject_id if self.account else None

    @property
    def id_number(self) -> str | None:
        """The (test) ID number of a subject caller."""
        return self.account.id_number if self.account else None


def issue_token_for(
    services: Services,
    role: Role | str,
    *,
    institution_type: str = "bank",
    permitted_purposes: Iterable[str] | None = None,
    provider_type: str = "court",
    provider_level: str | None = "county",
    id_number: str | None = None,
    wards: Iterable[str] = (),
    scope: str | None = None,
    ttl: int | None = None,
    now: int | None = None,
) -> Caller:
    """Register a new caller of ``role`` and sign it a token as the token endpoint would.

    - institution: ``institution_type`` and ``permitted_purposes`` (default: all open to the type);
    - provider: ``provider_type`` and ``provider_level``;
    - subject: ``id_number`` (default: a random adult);
    - guardian: ``wards`` = ID numbers of minors, registered if unknown;
    - auditor, operator: accounts.

    ``scope`` narrows the role's scope; ``ttl``/``now`` shape the token's times
    (e.g. ``now=int(time.time()) - 3600`` gives an expired token).
    """
    role = Role(role)
    if role == Role.INSTITUTION:
        inst = make_institution(services, institution_type=institution_type, permitted_purposes=permitted_purposes)
        return _client_caller(services, role, inst.client_id, inst.id, scope, ttl, now, institution=inst)
    if role == Role.PROVIDER:
        prov = make_provider(services, provider_type=provider_type, level=provider_level)
        return _client_caller(services, role, prov.client_id, prov.id, scope, ttl, now, provider=prov)
    account = make_account(services, role, id_number=id_number)
    ward_ids = tuple(make_guardianship(services, account.id, number) for number in wards)
    return token_for_account(services, account, scope=scope, ttl=ttl, now=now, ward_subject_ids=ward_ids)


def token_for_account(
    services: Services, account: TestAccount, *, scope: str | None = None, ttl: int | None = None,
    now: int | None = None, ward_subject_ids: tuple[str, ...] = (),
) -> Caller:
    """A token for an existing account, as issued to ``creditgate-web`` after login."""
    issued = services.tokens.issue(subject=account.id, client_id=WEB_CLIENT_ID, role=account.role.value,
                                   scope=scope or " ".join(scopes_for(account.role)), ttl=ttl, now=now)
    return Caller(account.role, issued.access_token, WEB_CLIENT_ID, account.id, account=account,
                  ward_subject_ids=ward_subject_ids, claims=issued.claims)


def _client_caller(services: Services, role: Role, client_id: str, actor_id: str, scope: str | None,
                   ttl: int | None, now: int | None, **kw: Any) -> Caller:
    issued = services.tokens.issue(subject=client_id, client_id=client_id, role=role.value,
                                   scope=scope or " ".join(scopes_for(role)), ttl=ttl, now=now)
    return Caller(role, issued.access_token, client_id, actor_id, claims=issued.claims, **kw)


# --- the real HTTP flows ------------------------------------------------------------------------


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header for client_secret_basic."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def client_credentials_token(http: Any, client_id: str, secret: str, scope: str | None = None) -> str:
    """POST /oauth/token with client_secret_basic; returns the access token (asserts 200)."""
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    resp = http.post("/oauth/token", data=form, headers=basic_auth(client_id, secret))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def assertion_for(
    client_id: str,
    key: Key,
    audience: str,
    *,
    alg: str = "EdDSA",
    lifetime: int = 60,
    jti: str | None = None,
    now: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A signed RFC 7523 client assertion (``private_key_jwt``)."""
    issued = int(time.time()) if now is None else now
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": issued, "exp": issued + lifetime,
              "jti": jti or uuid.uuid4().hex, **(extra or {})}
    header = {"alg": alg, "typ": "JWT"}
    if getattr(key, "kid", None):
        header["kid"] = key.kid  # type: ignore[assignment]
    return jwt.encode(header, claims, key, registry=_ASSERTION_REGISTRY)


def new_client_key() -> OKPKey:
    """A fresh Ed25519 key pair for a private_key_jwt client (public part: ``key.as_dict(private=False)``)."""
    return OKPKey.generate_key("Ed25519", auto_kid=True)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def login_form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the login page (OAuth parameters and the form token)."""
    import html

    return {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page)}


def authorize(
    http: Any,
    username: str,
    password: str,
    *,
    redirect_uri: str,
    scope: str | None = None,
    verifier_challenge: tuple[str, str] | None = None,
    state: str = "xyz-state",
    headers: dict[str, str] | None = None,
) -> tuple[Any, str]:
    """Run the login form; returns (the POST response, the code verifier). ``headers`` go
    with both requests (``X-Forwarded-For`` behind a trusted proxy, say)."""
    verifier, challenge = verifier_challenge or pkce_pair()
    params = {"response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": redirect_uri,
              "state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
    if scope:
        params["scope"] = scope
    page = http.get("/oauth/authorize", params=params, headers=headers)
    assert page.status_code == 200, page.text
    form = login_form_fields(page.text)
    form.update({"username": username, "password": password, "action": "login"})
    return http.post("/oauth/authorize", data=form, follow_redirects=False, headers=headers), verifier


def code_from(response: Any) -> str:
    """The ``code`` of an authorization redirect (asserts a 302 with a code)."""
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "code" in query, response.headers["location"]
    return query["code"][0]


def login_token(http: Any, username: str, password: str, *, redirect_uri: str, scope: str | None = None) -> str:
    """The full people's flow: login form → code → token (authorization_code + PKCE S256)."""
    response, verifier = authorize(http, username, password, redirect_uri=redirect_uri, scope=scope)
    resp = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code_from(response), "redirect_uri": redirect_uri,
        "client_id": WEB_CLIENT_ID, "code_verifier": verifier,
    })
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])
