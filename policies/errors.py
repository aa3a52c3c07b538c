"""Errors raised by the policies package."""

from __future__ import annotations


class PolicyDataError(Exception):
    """A packaged policy data file is missing, malformed or inconsistent.

    The message always names the data file and the offending key so that an
    operator editing the TOML can find the mistake without reading code.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")
