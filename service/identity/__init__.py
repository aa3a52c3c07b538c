"""Identity: the OAuth 2.0 authorization server, the resource server and the caller model.

- :mod:`service.identity.guards` — ``require_roles`` and the ``principal`` dependency (start here);
- :mod:`service.identity.principal` — :class:`Principal`, the authenticated caller;
- :mod:`service.identity.tokens` — RFC 9068 access tokens (sign and verify);
- :mod:`service.identity.oauth` and :mod:`service.identity.routes` — authlib on Litestar: token,
  authorization (login page), metadata and JWKS endpoints;
- :mod:`service.identity.login`, :mod:`service.identity.passwords` — argon2id and lock-out;
- :mod:`service.identity.models` — the tables; :mod:`service.identity.policy` — the constants.
"""
