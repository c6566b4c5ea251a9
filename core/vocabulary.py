"""Core's vocabularies, each spelled once: staff roles, usernames, and fee codes (core binds API tokens to fee
codes, so the pattern lives here and payments' catalogue uses it). tests/test_vocabularies.py checks each
against the database's CHECK constraints."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field


class Role(StrEnum):
    ADMIN = "admin"
    ATTENDANT = "attendant"
    FINANCE = "finance"
    APPROVER = "approver"


ROLES: tuple[str, ...] = tuple(Role)

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
USERNAME_PATH = "{username:" + USERNAME_PATTERN[1:-1] + "}"  # an aiohttp path parameter
Username = Annotated[str, Field(min_length=2, max_length=63, pattern=USERNAME_PATTERN)]

FEE_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,30}$"
FEE_CODE_RE = re.compile(FEE_CODE_PATTERN)
FeeCode = Annotated[str, Field(pattern=FEE_CODE_PATTERN, description="Code in the fee catalogue")]
