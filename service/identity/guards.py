"""Route protection: who may call a route, and who is calling.

Every route that is not public declares the roles allowed to call it with
:func:`require_roles`, and receives the caller as ``principal``::

    from litestar import get, post
    from litestar.di import NamedDependency
    from litestar.params import JSONBody
    from policies import Role
    from service.identity.guards import require_roles
    from service.identity.principal import Principal
    from service.runtime import Services

    @post("/v1/consent-requests", guards=[require_roles(Role.INSTITUTION, scope="consent:request")],
          sync_to_thread=True)
    def create_consent_request(
        principal: NamedDependency[Principal],      # plain ``principal: Principal`` works too,
        services: NamedDependency[Services],        # but Litestar 2.25 warns it is deprecated
        data: JSONBody[ConsentRequestIn],
    ) -> dict[str, Any]:
        ...  # principal.institution_id, principal.permitted_purposes, principal.viewer()

    # several roles; every route also names the scope the token must carry:
    @get("/v1/me/consents", guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")])
    @post("/v1/admin/institutions", guards=[require_roles(Role.OPERATOR, scope="admin")])

The guard can also sit on a Router or Controller (``guards=[...]``); the
roles of stacked role guards intersect.

What the guard does, in order:

1. no ``Authorization: Bearer …`` header → ``401 unauthorized``;
2. token not valid (bad signature, other key, ``alg`` not EdDSA, wrong ``typ``,
   ``iss`` or ``aud``, …) → ``401 token_invalid``; expired → ``401 token_expired``;
3. caller no longer allowed to act (client revoked, account disabled or
   locked) → ``401 unauthorized``; this is read from the database on every
   request;
4. role not among the declared ones → ``403 forbidden_role``; scope missing →
   ``403 insufficient_scope``;
5. institution or provider suspended → ``403 institution_suspended`` /
   ``provider_suspended`` (unless the route admits suspended callers to refuse
   and audit them itself).

401 responses carry ``WWW-Authenticate: Bearer …`` (RFC 6750 §3). On success
the :class:`Principal` is stored on the connection (``request.user``) and the
``principal`` dependency (registered app-wide) hands it to the handler. A
handler that asks for ``principal`` without a role guard fails closed with a
500: there is no way to reach a principal without declaring the roles.

The roles a route accepts are readable with :func:`roles_of`; the route-table
test uses it to call every protected route with every kind of token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from policies import Role
from service.http.problems import ProblemError
from service.identity.policy import ROLE_SCOPES, TOKEN_ROLES
from service.identity.principal import Principal
from service.identity.resource import authenticate_bearer
from service.identity.tokens import TokenError
from service.runtime import Services

ROLES_OPT = "roles"


class AuthenticationRequired(ProblemError):
    """401: no usable credentials; answered with the RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(self, code: str, detail: str, error: str | None) -> None:
        challenge = 'Bearer realm="creditgate"' + (f', error="{error}"' if error else "")
        super().__init__(401, code, detail, headers={"WWW-Authenticate": challenge})
        self.error = error


class RoleGuard:
    """A Litestar guard admitting only tokens of the given roles (and scope)."""

    def __init__(self, roles: Iterable[Role], scope: str, admit_suspended: bool = False) -> None:
        self.roles = frozenset(Role(r) for r in roles)
        if not self.roles:
            raise ValueError("require_roles needs at least one role")
        unknown = self.roles - TOKEN_ROLES
        if unknown:
            raise ValueError(f"no token can carry role(s) {sorted(unknown)}")
        missing = [r for r in self.roles if scope not in ROLE_SCOPES[r]]
        if missing:
            raise ValueError(f"tokens of role(s) {sorted(missing)} never carry scope {scope!r}")
        self.scope = scope
        self.admit_suspended = admit_suspended

    def __repr__(self) -> str:
        return f"require_roles({', '.join(sorted(self.roles))}, scope={self.scope!r})"

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if principal.role not in self.roles:
            raise ProblemError(403, "forbidden_role", "this operation is not available to your role")
        if self.scope not in principal.scopes:
            raise ProblemError(403, "insufficient_scope", "the access token lacks the scope this operation needs",
                               required_scope=self.scope)
        if not principal.active and not self.admit_suspended:
            raise ProblemError(403, f"{principal.role.value}_suspended",
                               f"the {principal.role.value} is suspended; its tokens no longer work")


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller behind the request's bearer token, verified and checked live
    (steps 1 to 3 above); stored on the connection for the ``principal`` dependency."""
    cached = connection.scope.get("user")
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(_authorization(connection.scope))
    services: Services = connection.app.state["services"]
    try:
        principal = await services.run_reads(authenticate_bearer, services, token)
    except TokenError as exc:
        detail = {
            "token_expired": "the access token has expired",
            "token_invalid": "the access token is not valid",
        }.get(exc.code, "the caller is not allowed to act")
        raise AuthenticationRequired(exc.code, detail, "invalid_token") from None
    connection.scope["user"] = principal
    return principal


def _authorization(scope: Any) -> str | None:
    # The first Authorization header, read off the ASGI scope: building Litestar's
    # header mapping for this one value costs more than the token check it feeds.
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def require_roles(*roles: Role, scope: str, admit_suspended: bool = False) -> RoleGuard:
    """A guard for ``guards=[...]`` that admits only callers with one of ``roles`` whose
    token carries ``scope``. Callers of a suspended institution or provider are refused
    (403) unless ``admit_suspended``: then the route must refuse them itself, as the
    governed query does through the gate so that the attempt is audited."""
    return RoleGuard(roles, scope, admit_suspended)


def bearer_token(header: str | None) -> str:
    """The token from an ``Authorization: Bearer`` header; 401 if absent or malformed."""
    if not header:
        raise AuthenticationRequired("unauthorized", "an access token is required", None)
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise AuthenticationRequired("unauthorized", "use the Authorization: Bearer scheme", "invalid_request")
    return value


def roles_of(handler: BaseRouteHandler) -> frozenset[Role] | None:
    """The roles a handler admits (intersection over all its role guards), or None
    when it has no role guard at all."""
    allowed: frozenset[Role] | None = None
    for guard in handler.resolve_guards():
        target = getattr(guard, "func", guard)  # Litestar wraps sync guards
        if isinstance(target, RoleGuard):
            allowed = target.roles if allowed is None else allowed & target.roles
    return allowed


def scope_of(handler: BaseRouteHandler) -> str | None:
    """The scope a handler's role guard demands, or None without a role guard."""
    for guard in handler.resolve_guards():
        target = getattr(guard, "func", guard)
        if isinstance(target, RoleGuard):
            return target.scope
    return None


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The ``principal`` dependency: the caller the role guard authenticated."""
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        # A handler asked for the caller but declared no role guard: fail closed.
        raise RuntimeError("route asks for a principal but has no require_roles guard")
    return principal

