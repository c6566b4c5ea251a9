"""A password hashed with older argon2 parameters is re-hashed with the current ones at the next successful
login, and the same password still works afterwards."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import core.passwords
from core.appkeys import POOL
from tests.core.test_login_security import _login_token, _post_login


@pytest.fixture
def stronger_parameters():
    """The parameters change after the user's hash was made (as when the service raises its argon2 cost)."""
    before = core.passwords._hasher
    core.passwords.use_password_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    yield
    core.passwords.use_password_hasher(before)


async def _stored_hash(client, username: str) -> str:
    sql = "SELECT password_hash FROM staff_users WHERE username = $1"
    return await client.app[POOL].fetchval(sql, username)


async def test_an_old_hash_is_replaced_at_the_next_login(client, staff_login, request):
    user = await staff_login("finance")
    old = await _stored_hash(client, user.username)
    assert "t=1" in old and "m=8" in old

    request.getfixturevalue("stronger_parameters")
    token = await _login_token(client)
    wrong = await _post_login(client, token, user.username, "not-the-password-1")
    assert wrong.status == 401 and await _stored_hash(client, user.username) == old  # only a right password

    right = await _post_login(client, token, user.username, user.password)
    assert right.status == 303
    new = await _stored_hash(client, user.username)
    assert new != old and "t=2" in new and "m=16" in new
    assert PasswordHasher().verify(new, user.password)

    again = await _post_login(client, token, user.username, user.password)
    assert again.status == 303 and await _stored_hash(client, user.username) == new  # no rehash needed now
