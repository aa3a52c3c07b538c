"""Fixtures shared by the record tests."""

from __future__ import annotations

import pytest

from policies import Role
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for


@pytest.fixture
def court(services: Services) -> Caller:
    """A registered court (provider) with a token."""
    return issue_token_for(services, Role.PROVIDER, provider_type="court")
