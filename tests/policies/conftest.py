import copy
import tomllib
from importlib import resources
from typing import Any

import pytest


def packaged_toml(name: str) -> dict[str, Any]:
    text = resources.files("policies").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@pytest.fixture
def masking_data() -> dict[str, Any]:
    return copy.deepcopy(packaged_toml("masking.toml"))


@pytest.fixture
def purposes_data() -> dict[str, Any]:
    return copy.deepcopy(packaged_toml("purposes.toml"))


@pytest.fixture
def categories_data() -> dict[str, Any]:
    return copy.deepcopy(packaged_toml("categories.toml"))


@pytest.fixture
def consent_data() -> dict[str, Any]:
    return copy.deepcopy(packaged_toml("consent.toml"))
