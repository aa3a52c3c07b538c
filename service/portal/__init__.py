"""The people's web portal: server-rendered pages over the ``/v1/me`` API.

The portal is the ``creditgate-web`` OAuth client run as a backend-for-frontend:
it signs people in with the authorization-code flow and PKCE, keeps their access
token server-side in a sealed session row, and answers every page by calling the
API in-process with that token (:mod:`service.portal.api`), so a page shows what
the API returns for the same person and nothing more.
"""
