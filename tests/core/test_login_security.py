"""Attacks on the login (issue 8, points 9–11 and the Bearer scheme of 20): parallel guessing, argon2 bursts
that would stall the event loop, and lock-outs aimed at an admin."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.appkeys import POOL

WRONG = "wrong-password-123"


async def _login_token(client) -> str:
    """The login form's CSRF token (also its cookie's value); every attempt then sends it explicitly, so a
    session cookie from a successful login does not change what the next attempt looks like."""
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    client.session.cookie_jar.clear()
    return token


async def _post_login(client, token: str, username: str, password: str, address: str | None = None):
    headers = {"Cookie": f"citypay_login_csrf={token}"}
    if address:
        headers["X-Forwarded-For"] = address
    resp = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    await resp.read()
    client.session.cookie_jar.clear()
    return resp


@pytest.fixture
def verify_calls(monkeypatch):
    """Counts argon2 checks: the evaluated attempts."""
    import core.passwords

    calls: list[str] = []
    real = core.passwords._verify_password_sync

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(core.passwords, "_verify_password_sync", counting)
    return calls


async def _attempts(client, **where) -> int:
    ((col, value),) = where.items()
    return await client.app[POOL].fetchval(f"SELECT count(*) FROM login_attempts WHERE {col} = $1", value)


# Point 9: parallel guesses are counted before they are checked -----


async def test_thirty_parallel_wrong_passwords_evaluate_at_most_the_limit(client, staff_login, verify_calls):
    user = await staff_login("finance")
    verify_calls.clear()  # the fixture's own login
    token = await _login_token(client)
    answers = await asyncio.gather(*(_post_login(client, token, user.username, WRONG) for _ in range(30)))
    statuses = [r.status for r in answers]
    assert statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 30, statuses
    assert len(verify_calls) <= 5
    # the fixture's own successful login is the sixth row
    assert await _attempts(client, username=user.username) <= 6
    throttled = next(r for r in answers if r.status == 429)
    assert int(throttled.headers["Retry-After"]) >= 1


async def test_parallel_guesses_from_many_addresses_evaluate_at_most_the_limit(
    make_app, aiohttp_client, staff_login, verify_calls
):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    user = await staff_login("admin")
    verify_calls.clear()
    token = await _login_token(client)
    answers = await asyncio.gather(
        *(_post_login(client, token, user.username, WRONG, f"198.51.100.{i}") for i in range(30))
    )
    statuses = [r.status for r in answers]
    assert statuses.count(401) <= 5 and statuses.count(429) >= 25, statuses
    assert len(verify_calls) <= 5


async def test_parallel_guesses_across_usernames_respect_the_address_limit(
    make_app, aiohttp_client, verify_calls
):
    client = await aiohttp_client(make_app(login_max_failures_per_address=5))
    token = await _login_token(client)
    answers = await asyncio.gather(*(_post_login(client, token, f"nobody{i}", WRONG) for i in range(30)))
    statuses = [r.status for r in answers]
    assert statuses.count(401) <= 5 and statuses.count(429) >= 25, statuses
    assert len(verify_calls) <= 5
    assert await _attempts(client, address="127.0.0.1") <= 5


# Point 10: argon2 does not run on the event loop -----


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def _healthz_ms(client) -> float:
    start = time.perf_counter()
    resp = await client.get("/healthz")
    await resp.read()
    assert resp.status == 200
    return (time.perf_counter() - start) * 1000


async def test_a_login_burst_does_not_stall_other_requests(make_app, aiohttp_client, monkeypatch):
    """Each password check is made slow (a blocking 0.3 s, like argon2 on a busy machine). Off the event loop,
    /healthz keeps answering while the checks run; on the loop, it could not answer until each check ended.
    No timing is compared: the test counts answers that arrived while checks were running. Latency under a
    burst is measured by bench/login_burst.py."""
    import threading
    import time

    import core.passwords

    real = core.passwords._verify_password_sync
    running, threads = [0], set()

    def slow(password_hash: str, password: str) -> bool:
        threads.add(threading.get_ident())
        running[0] += 1
        try:
            time.sleep(0.3)
            return real(password_hash, password)
        finally:
            running[0] -= 1

    monkeypatch.setattr(core.passwords, "_verify_password_sync", slow)
    # The client shares the server's event loop: a password check on the loop would block /healthz too.
    client = await aiohttp_client(make_app(login_max_failures_per_address=1000))
    token = await _login_token(client)
    burst = asyncio.gather(*(_post_login(client, token, f"bogus{i}", WRONG) for i in range(10)))
    answered_during_checks = 0
    while not burst.done():
        resp = await client.get("/healthz")
        assert resp.status == 200
        answered_during_checks += running[0] > 0
    answers = await burst
    assert [r.status for r in answers] == [401] * 10
    assert threading.get_ident() not in threads  # never on the event loop's thread
    assert answered_during_checks >= 10, answered_during_checks


# Point 11: lock-outs cannot be used against an admin -----


async def _age_attempts(client, username: str, seconds: int) -> None:
    """Move this account's recorded attempts into the past, as if the attacker had waited."""
    await client.app[POOL].execute(
        "UPDATE login_attempts SET at = at - $2::interval WHERE username = $1",
        username,
        timedelta(seconds=seconds),
    )


async def test_failures_from_elsewhere_do_not_lock_the_admin_out(make_app, aiohttp_client, staff_login):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    admin = await staff_login("admin")
    other_admin = await staff_login("admin")
    token = await _login_token(client)
    office, attacker, hotel = "203.0.113.10", "198.51.100.66", "192.0.2.44"
    assert (await _post_login(client, token, admin.username, admin.password, office)).status == 303
    statuses = [(await _post_login(client, token, admin.username, WRONG, attacker)).status for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    # The owner from an address that logged this account in before: straight in (was: 15 minutes locked).
    assert (await _post_login(client, token, admin.username, admin.password, office)).status == 303
    # The attacker goes on; the owner on a new address is slowed by seconds, never locked for the window.
    for _ in range(5):
        assert (await _post_login(client, token, admin.username, WRONG, attacker)).status == 401
    slowed = await _post_login(client, token, admin.username, admin.password, hotel)
    assert slowed.status == 429 and 1 <= int(slowed.headers["Retry-After"]) <= 30
    # Another admin clears the failures: the owner gets in at once, the attacker's address stays slowed.
    unlock = await client.post(
        f"/api/v1/admin/staff/{admin.username}/unlock", headers=other_admin.headers(unsafe=True)
    )
    assert unlock.status == 200 and (await unlock.json())["recent_failures"] == 0
    assert (await _post_login(client, token, admin.username, admin.password, hotel)).status == 303
    audit = await client.app[POOL].fetchrow(
        "SELECT actor, action FROM audit_log WHERE subject = $1 AND action = 'staff.unlock'",
        f"staff:{admin.username}",
    )
    assert audit["actor"] == f"staff:{other_admin.username}"


async def test_the_delay_grows_with_each_further_failure(make_app, aiohttp_client, staff_login, verify_calls):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    user = await staff_login("approver")
    token = await _login_token(client)
    attacker = "198.51.100.9"
    for _ in range(5):
        assert (await _post_login(client, token, user.username, WRONG, attacker)).status == 401
    waits = []
    for _ in range(4):
        blocked = await _post_login(client, token, user.username, WRONG, attacker)
        assert blocked.status == 429
        wait = int(blocked.headers["Retry-After"])
        waits.append(wait)
        await _age_attempts(client, user.username, wait)  # the attacker waits exactly that long
        assert (await _post_login(client, token, user.username, WRONG, attacker)).status == 401
    assert waits == sorted(waits) and waits[-1] >= 4 * waits[0], waits
    assert all(w < 15 * 60 for w in waits)
    assert len(verify_calls) == 5 + 4 + 1  # the fixture's login, and only attempts let through


async def test_the_address_limit_comes_first(make_app, aiohttp_client, staff_login):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",), login_max_failures_per_address=6))
    user = await staff_login("attendant")
    token = await _login_token(client)
    for i in range(6):
        assert (await _post_login(client, token, f"guess{i}", WRONG, "198.51.100.7")).status == 401
    blocked = await _post_login(client, token, user.username, user.password, "198.51.100.7")
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 60
    assert "Quá nhiều lần thử" in await blocked.text()
    # the same account from another address is not affected
    assert (await _post_login(client, token, user.username, user.password, "203.0.113.1")).status == 303


def test_login_wait_is_never_a_lock_out():
    from core.auth import ACCOUNT_DELAY_CAP_S, LoginHistory, login_wait_seconds

    now = datetime(2026, 1, 1, tzinfo=UTC)
    limits = {"max_per_account": 5, "max_per_address": 20, "window_minutes": 15}
    fresh = LoginHistory(now, 0, None, 0, None, 0, None, False)
    assert login_wait_seconds(fresh, **limits) == 0
    # 200 failures from a botnet: a new address waits at most the cap; a known one not at all
    storm = LoginHistory(now, 0, None, 0, None, 200, now, False)
    assert login_wait_seconds(storm, **limits) == ACCOUNT_DELAY_CAP_S
    assert login_wait_seconds(LoginHistory(now, 0, None, 0, None, 200, now, True), **limits) == 0
    # the address limit is a hard window for accounts the address has not logged in lately
    assert login_wait_seconds(LoginHistory(now, 20, now, 0, None, 0, None, False), **limits) == 900
    # an address's failures for other usernames do not hold back an account it logged in lately …
    assert login_wait_seconds(LoginHistory(now, 500, now, 0, None, 0, None, True), **limits) == 0
    # … but that account's own failures from there still slow it down
    assert login_wait_seconds(LoginHistory(now, 500, now, 5, now, 5, now, True), **limits) == 2


# Point 11: an address's failures (a shared proxy address, an office) cannot lock its known users out ------


async def _flood_address(client, token: str, address: str, limit: int = 20) -> None:
    """The attack: wrong logins for made-up usernames from one address until it is throttled."""
    statuses = [
        (await _post_login(client, token, f"nobody{i}", WRONG, address)).status for i in range(limit + 1)
    ]
    assert statuses == [401] * limit + [429]


async def test_failures_for_other_usernames_do_not_lock_out_an_admin_who_logged_in_there(
    make_app, aiohttp_client, staff_login
):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    admin = await staff_login("admin")
    former = await staff_login("admin")
    newcomer = await staff_login("finance")
    token = await _login_token(client)
    shared = "127.0.0.9"
    for user in (admin, former):
        assert (await _post_login(client, token, user.username, user.password, shared)).status == 303
    await _flood_address(client, token, shared)
    # was: 429 with Retry-After: 898 — the admin's correct password from a known address gets in
    assert (await _post_login(client, token, admin.username, admin.password, shared)).status == 303
    # an account that never logged in from there stays behind the address limit
    blocked = await _post_login(client, token, newcomer.username, newcomer.password, shared)
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 60
    # the attacker at that address gains nothing: guesses at the admin still meet the account's own delay
    statuses = [(await _post_login(client, token, admin.username, WRONG, shared)).status for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    # a success older than 30 days no longer makes the address known
    await client.app[POOL].execute(
        "UPDATE login_attempts SET at = at - interval '31 days' WHERE username = $1 AND success",
        former.username,
    )
    assert (await _post_login(client, token, former.username, former.password, shared)).status == 429


async def test_an_admin_clears_an_address_api_and_audit(make_app, aiohttp_client, staff_login):
    client = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    admin = await staff_login("admin")
    clerk = await staff_login("attendant")
    token = await _login_token(client)
    shared = "127.0.0.9"
    await _flood_address(client, token, shared)
    assert (await _post_login(client, token, clerk.username, clerk.password, shared)).status == 429
    listed = await client.get("/api/v1/admin/login-addresses", headers=admin.headers())
    rows = {r["address"]: r for r in (await listed.json())["items"]}
    assert rows[shared] == {"address": shared, "window_failures": 20, "failures_24h": 20}
    # not for non-admins, not without CSRF, not for nonsense
    refused = await client.post(
        "/api/v1/admin/login-addresses/unlock", json={"address": shared}, headers=clerk.headers(unsafe=True)
    )
    assert refused.status == 403 and refused.content_type == "application/problem+json"
    no_csrf = await client.post(
        "/api/v1/admin/login-addresses/unlock", json={"address": shared}, headers=admin.headers()
    )
    assert no_csrf.status == 403
    for bad in ({"address": ""}, {"address": "x" * 101}, {"address": "1.2.3.4\n5"}, {"address": 7}, {}):
        resp = await client.post(
            "/api/v1/admin/login-addresses/unlock", json=bad, headers=admin.headers(unsafe=True)
        )
        assert resp.status == 422 and resp.content_type == "application/problem+json", bad
    assert (await _post_login(client, token, clerk.username, clerk.password, shared)).status == 429
    done = await client.post(
        "/api/v1/admin/login-addresses/unlock", json={"address": shared}, headers=admin.headers(unsafe=True)
    )
    assert done.status == 200
    assert (await done.json())["cleared"] == {"address": shared, "window_failures": 20, "failures_24h": 20}
    assert (await _post_login(client, token, clerk.username, clerk.password, shared)).status == 303
    # the failures stay recorded; only the limit forgets them
    assert (
        await client.app[POOL].fetchval(
            "SELECT count(*) FROM login_attempts WHERE address = $1 AND NOT success", shared
        )
        == 20
    )
    audit = await client.app[POOL].fetchrow(
        "SELECT actor, before FROM audit_log WHERE action = 'login.unlock_address' AND subject = $1",
        f"address:{shared}",
    )
    assert audit["actor"] == f"staff:{admin.username}"
    # the address fills again after an unlock: the limit still works
    await _flood_address(client, token, shared)


async def test_forwarded_for_from_an_untrusted_peer_is_warned_about_once(make_app, aiohttp_client, capsys):
    import core.auth
    from core.logging import configure_logging

    configure_logging("json")
    core.auth._warned_untrusted_forwarder = False
    client = await aiohttp_client(make_app())  # no trusted proxies: 127.0.0.1 is not believed
    token = await _login_token(client)
    capsys.readouterr()
    for i in range(3):
        assert (await _post_login(client, token, f"nobody{i}", WRONG, "198.51.100.1")).status == 401
    warnings = [line for line in capsys.readouterr().err.splitlines() if "untrusted_forwarded_for" in line]
    assert len(warnings) == 1 and "CITYPAY_TRUSTED_PROXIES" in warnings[0]
    assert "198.51.100.1" not in warnings[0]
    # the forwarded address was not believed: the failures count against the peer
    assert await _attempts(client, address="127.0.0.1") == 3


# Point 20 (part): the Bearer scheme is case-insensitive -----------------------------------------------------


async def test_bearer_scheme_is_matched_case_insensitively(client, api_token):
    token = await api_token("ledger:read")
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        resp = await client.get(
            "/api/v1/ledger/trial-balance", headers={"Authorization": f"{scheme} {token}"}
        )
        assert resp.status == 200, scheme
    wrong = await client.get("/api/v1/ledger/trial-balance", headers={"Authorization": f"Basic {token}"})
    assert wrong.status == 401 and wrong.content_type == "application/problem+json"


async def test_where_the_login_leads_survives_a_wrong_password(client, staff_login):
    """An attendant sent to /login?next=<console> who mistypes once landed on /staff after the right password:
    the form shown again lost `next`."""
    user = await staff_login("attendant")
    target = "/parking/console/hk-hang-dau"
    token = await _login_token(client)
    headers = {"Cookie": f"citypay_login_csrf={token}"}
    form = {"username": user.username, "csrf_token": token, "next": target}
    again = await client.post("/login", data={**form, "password": WRONG}, headers=headers)
    assert again.status == 401
    shown = re.search(r'name="next" value="([^"]*)"', await again.text())
    assert shown is not None and shown.group(1) == target
    ok = await client.post(
        "/login", data={**form, "password": user.password}, headers=headers, allow_redirects=False
    )
    assert ok.status == 303 and ok.headers["Location"] == target
