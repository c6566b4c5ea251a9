"""Staff management by admins (issue 8, point 11): deactivate, reset a password, revoke sessions, clear failed
logins — through the API, the admin page and the CLI; each audited, each taking effect at once."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from core.appkeys import POOL
from core.keys import keys_as_env
from tests.conftest import ROOT

JSON = {"Accept": "application/json"}


async def _can_read(client, login) -> int:
    """A finance user's session at work: the status of an API call it is allowed to make."""
    resp = await client.get("/api/v1/ledger/trial-balance", headers={**login.headers(), **JSON})
    return resp.status


async def _audit(client, username: str, action: str):
    return await client.app[POOL].fetchrow(
        "SELECT actor, before, after FROM audit_log WHERE subject = $1 AND action = $2",
        f"staff:{username}",
        action,
    )


async def _login_status(client, username: str, password: str) -> int:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    resp = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    client.session.cookie_jar.clear()
    return resp.status


async def test_a_deactivated_user_is_out_at_once(client, staff_login):
    admin = await staff_login("admin")
    clerk = await staff_login("finance")
    assert await _can_read(client, clerk) == 200
    resp = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/deactivate", headers=admin.headers(unsafe=True)
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["active"] is False and body["sessions_revoked"] == 1 and body["sessions"] == 0
    assert await _can_read(client, clerk) == 401  # the live session stopped working
    assert await _login_status(client, clerk.username, clerk.password) == 401
    audit = await _audit(client, clerk.username, "staff.deactivate")
    assert audit["actor"] == f"staff:{admin.username}"
    # reactivated: the password works again, the old session stays dead
    again = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/activate", headers=admin.headers(unsafe=True)
    )
    assert again.status == 200 and (await again.json())["active"] is True
    assert await _can_read(client, clerk) == 401
    assert await _login_status(client, clerk.username, clerk.password) == 303
    assert await _audit(client, clerk.username, "staff.activate") is not None


async def test_admins_cannot_remove_the_last_admin_or_themselves(client, staff_login, cli_env):
    admin = await staff_login("admin")
    self_ = await client.post(
        f"/api/v1/admin/staff/{admin.username}/deactivate", headers=admin.headers(unsafe=True)
    )
    assert self_.status == 409 and self_.content_type == "application/problem+json"
    assert (await self_.json())["field"] == "username"
    other = await staff_login("admin")
    ok = await client.post(
        f"/api/v1/admin/staff/{other.username}/deactivate", headers=admin.headers(unsafe=True)
    )
    assert ok.status == 200
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM staff_users WHERE role = 'admin' AND active")
        == 1
    )
    # the last active admin cannot be removed from the command line either
    code, out = await _cli(cli_env, "deactivate-user", admin.username)
    assert code == 1 and "last active admin" in out
    assert await _can_read(client, admin) == 200
    missing = await client.post("/api/v1/admin/staff/nobody/deactivate", headers=admin.headers(unsafe=True))
    assert missing.status == 404 and (await missing.json())["type"] == "/problems/not-found"


async def test_reset_password_ends_sessions_and_keeps_the_password_out_of_the_audit(client, staff_login):
    admin = await staff_login("admin")
    clerk = await staff_login("finance")
    short = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/reset-password",
        json={"password": "short"},
        headers=admin.headers(unsafe=True),
    )
    assert short.status == 422 and (await short.json())["field"] == "password"
    assert await _can_read(client, clerk) == 200  # nothing changed
    resp = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/reset-password",
        json={"password": "a brand new passphrase"},
        headers=admin.headers(unsafe=True),
    )
    assert resp.status == 200 and (await resp.json())["sessions_revoked"] == 1
    assert await _can_read(client, clerk) == 401
    assert await _login_status(client, clerk.username, clerk.password) == 401
    assert await _login_status(client, clerk.username, "a brand new passphrase") == 303
    audit = await _audit(client, clerk.username, "staff.reset_password")
    assert audit["actor"] == f"staff:{admin.username}" and "passphrase" not in str(dict(audit))


async def test_revoke_sessions_ends_every_session(client, staff_login):
    admin = await staff_login("admin")
    clerk = await staff_login("finance")
    assert await _login_status(client, clerk.username, clerk.password) == 303  # a second session
    resp = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/revoke-sessions", headers=admin.headers(unsafe=True)
    )
    assert resp.status == 200 and (await resp.json())["sessions_revoked"] == 2
    assert await _can_read(client, clerk) == 401
    assert (await _audit(client, clerk.username, "staff.revoke_sessions"))["after"] is not None
    # without the CSRF token a cookie-holding admin changes nothing
    forged = await client.post(
        f"/api/v1/admin/staff/{admin.username}/revoke-sessions", headers=admin.headers()
    )
    assert forged.status == 403
    assert await _can_read(client, admin) == 200  # the admin's own session is still alive


async def test_staff_page_forms(client, staff_login):
    admin = await staff_login("admin")
    clerk = await staff_login("finance")
    page = await client.get("/admin/staff", headers=admin.headers())
    html = await page.text()
    assert page.status == 200 and "Tài khoản nhân viên" in html and clerk.username in html
    no_csrf = await client.post(
        f"/admin/staff/{clerk.username}/deactivate", headers=admin.headers(), allow_redirects=False
    )
    assert no_csrf.status == 403
    assert await _can_read(client, clerk) == 200
    short = await client.post(
        f"/admin/staff/{clerk.username}/reset-password",
        data={"csrf_token": admin.csrf, "password": "short"},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert short.status == 422 and "password" in await short.text()
    done = await client.post(
        f"/admin/staff/{clerk.username}/deactivate",
        data={"csrf_token": admin.csrf},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/admin/staff?saved=1"
    assert await _can_read(client, clerk) == 401
    created = await client.post(
        "/admin/staff",
        data={
            "csrf_token": admin.csrf,
            "username": "lan",
            "display_name": "Nguyễn Thị Lan",
            "role": "attendant",
            "password": "long enough password",
        },
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert created.status == 303
    assert await _login_status(client, "lan", "long enough password") == 303
    for action in ("revoke-sessions", "unlock", "activate"):
        resp = await client.post(
            f"/admin/staff/{clerk.username}/{action}",
            data={"csrf_token": admin.csrf},
            headers=admin.headers(),
            allow_redirects=False,
        )
        assert resp.status == 303, action
    assert await _audit(client, clerk.username, "staff.unlock") is not None
    home = await client.get("/staff", headers=admin.headers())
    assert 'href="/admin/staff"' in await home.text()


async def test_staff_page_labels_deactivation_and_shows_failures_after_the_owner_logs_in(client, staff_login):
    admin = await staff_login("admin")
    clerk = await staff_login("finance")
    # ten guesses from a botnet a few minutes ago (the account's delay has run out since)
    await client.app[POOL].executemany(
        "INSERT INTO login_attempts (username, address, success, at)"
        " VALUES ($1, $2, false, now() - interval '5 minutes')",
        [(clerk.username, f"198.51.100.{i}") for i in range(10)],
    )
    assert await _login_status(client, clerk.username, clerk.password) == 303  # the owner logs in
    html = await (await client.get("/admin/staff", headers=admin.headers())).text()
    row = re.search(rf'<tr id="staff-{re.escape(clerk.username)}">(.*?)</tr>', html, re.S).group(1)
    # was: 0 — the count started at the last success, so the attack vanished once the owner logged in
    assert re.search(r'class="num failures-24h">10<', row)
    assert re.search(r'class="num failures-recent">0<', row)
    # deactivation is not called locking; "unlock" is about failed logins
    assert "Vô hiệu hóa tài khoản" in html and "Khóa tài khoản" not in html
    assert "Mở khóa: xóa lần đăng nhập sai" in html
    api = await client.post(
        f"/api/v1/admin/staff/{clerk.username}/revoke-sessions", headers=admin.headers(unsafe=True)
    )
    assert (await api.json())["failures_24h"] == 10
    english = {"Cookie": f"citypay_session={admin.cookie}; lang=en"}
    en = await (await client.get("/admin/staff", headers=english)).text()
    assert ">Deactivate<" in en and "Failed logins, last 24 h" in en


async def test_staff_page_clears_an_address(client, staff_login):
    admin = await staff_login("admin")
    pool = client.app[POOL]
    await pool.executemany(
        "INSERT INTO login_attempts (username, address, success) VALUES ($1, '198.51.100.77', false)",
        [(f"nobody{i}",) for i in range(25)],
    )
    html = await (await client.get("/admin/staff", headers=admin.headers())).text()
    assert "198.51.100.77" in html and 'action="/admin/staff/unlock-address"' in html
    no_csrf = await client.post(
        "/admin/staff/unlock-address",
        data={"address": "198.51.100.77"},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert no_csrf.status == 403
    bad = await client.post(
        "/admin/staff/unlock-address",
        data={"csrf_token": admin.csrf, "address": ""},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert bad.status == 422 and "address" in await bad.text()
    done = await client.post(
        "/admin/staff/unlock-address",
        data={"csrf_token": admin.csrf, "address": "198.51.100.77"},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/admin/staff?saved=1"
    audit = await pool.fetchrow(
        "SELECT actor, before FROM audit_log WHERE action = 'login.unlock_address' AND subject = $1",
        "address:198.51.100.77",
    )
    assert audit["actor"] == f"staff:{admin.username}"
    listed = await client.get("/api/v1/admin/login-addresses", headers=admin.headers())
    row = next(r for r in (await listed.json())["items"] if r["address"] == "198.51.100.77")
    assert row == {"address": "198.51.100.77", "window_failures": 0, "failures_24h": 25}


@pytest.fixture
def cli_env(db_url, keys, tmp_path) -> dict[str, str]:
    # the audit key comes from the environment, as on a real server
    return {**os.environ, **keys_as_env(keys), "DATABASE_URL": db_url, "CITYPAY_VAR_DIR": str(tmp_path)}


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_cli_manages_staff(client, staff_login, cli_env):
    clerk = await staff_login("finance")
    code, out = await _cli(cli_env, "revoke-sessions", clerk.username)
    assert code == 0, out
    assert await _can_read(client, clerk) == 401
    code, out = await _cli(cli_env, "reset-password", clerk.username, "--password", "cli chosen password")
    assert code == 0, out
    assert await _login_status(client, clerk.username, "cli chosen password") == 303
    code, out = await _cli(cli_env, "unlock-user", clerk.username)
    assert code == 0, out
    code, out = await _cli(cli_env, "deactivate-user", clerk.username)
    assert code == 0, out
    assert await _login_status(client, clerk.username, "cli chosen password") == 401
    code, out = await _cli(cli_env, "deactivate-user", "nobody")
    assert code == 1 and "username" in out
    code, out = await _cli(cli_env, "reset-password", clerk.username, "--password", "short")
    assert code == 1 and "password" in out
    actions = await client.app[POOL].fetch(
        "SELECT action, actor FROM audit_log WHERE subject = $1 ORDER BY seq", f"staff:{clerk.username}"
    )
    assert [r["action"] for r in actions] == [
        "staff.create",
        "staff.revoke_sessions",
        "staff.reset_password",
        "staff.unlock",
        "staff.deactivate",
    ]
    assert all(r["actor"].startswith("cli:") for r in actions[1:])


async def test_cli_unlocks_an_address(client, cli_env):
    pool = client.app[POOL]
    await pool.executemany(
        "INSERT INTO login_attempts (username, address, success) VALUES ($1, '10.0.0.5', false)",
        [(f"nobody{i}",) for i in range(21)],
    )
    code, out = await _cli(cli_env, "unlock-address", "10.0.0.5")
    assert code == 0 and "21 failed login(s)" in out, out
    audit = await pool.fetchrow(
        "SELECT actor FROM audit_log WHERE action = 'login.unlock_address' AND subject = 'address:10.0.0.5'"
    )
    assert audit["actor"].startswith("cli:")
    code, out = await _cli(cli_env, "unlock-address", " ")
    assert code == 1 and "address" in out
