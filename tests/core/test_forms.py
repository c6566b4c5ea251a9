"""Forms are declared routes (issue 9, point 5): a form post is read into the JSON API's own model, people's
ways of typing đồng and Hà Nội times are understood there only, and refusals come back beside the field in
the reader's language — never pydantic's or the API's English."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from core.db import connect
from core.forms import FORM_CONTEXT, field_message
from core.money import LOCAL_TZ, Dong, parse_dong
from core.timebounds import BoundedDate, BoundedDatetime


class Priced(BaseModel):
    amount: Dong = Field(ge=1, le=10_000_000_000)
    at: BoundedDatetime | None = None
    on: BoundedDate | None = None


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_dong_as_people_group_it(n):
    vi = f"{n:,}".replace(",", ".")
    assert parse_dong(vi) == n
    assert parse_dong(f"{n:,}") == n
    assert parse_dong(f"{n:,}".replace(",", " ")) == n
    assert parse_dong(f"{vi} ₫") == n and parse_dong(f"{n}đ") == n and parse_dong(f"{n} VND") == n


@pytest.mark.parametrize(
    "typed",
    ["", "1.5", "1,50", "-200000", "+1", "12.34.567", "1.234,567", "٣٤", "1e6", "0x10", "2 00", "1" * 16],
)
def test_dong_refuses_what_it_would_have_to_guess(typed):
    with pytest.raises(ValueError):
        parse_dong(typed)


def test_form_context_only():
    """The JSON API stays strict: no grouped strings for amounts, no offset-less times."""
    assert Priced.model_validate({"amount": "1.234.567"}, context=FORM_CONTEXT).amount == 1_234_567
    with pytest.raises(ValidationError):
        Priced.model_validate_json('{"amount": "1.234.567"}', strict=True)
    with pytest.raises(ValidationError):
        Priced.model_validate_json('{"amount": 5, "at": "2026-12-01T08:30:00"}', strict=True)
    local = Priced.model_validate(
        {"amount": "5", "at": "2026-12-01T08:30", "on": "31/12/2026"}, context=FORM_CONTEXT
    )
    assert local.at == datetime(2026, 12, 1, 8, 30, tzinfo=LOCAL_TZ)
    assert local.on is not None and local.on.isoformat() == "2026-12-31"


@pytest.mark.parametrize("typed", ["9999-12-31T23:59", "0001-01-01T00:00", "31/02/2026 08:00", "tomorrow"])
def test_impossible_moments_are_field_errors(typed):
    with pytest.raises(ValidationError) as caught:
        Priced.model_validate({"amount": "5", "at": typed}, context=FORM_CONTEXT)
    (error,) = caught.value.errors()
    assert error["loc"] == ("at",)
    assert field_message(error["type"], "vi", error.get("ctx")) != field_message("invalid", "vi")


def test_every_message_reads_in_both_languages():
    assert field_message("string_too_short", "vi", {"min_length": 10}) == "Cần ít nhất 10 ký tự."
    assert field_message("less_than_equal", "vi", {"le": 10_000_000}) == "Tối đa là 10.000.000."
    assert field_message("less_than_equal", "en", {"le": 10_000_000}) == "Must be at most 10,000,000."
    assert field_message("some_new_pydantic_type", "vi") == "Giá trị không hợp lệ."


async def _staff_count(db_url: str) -> int:
    conn = await connect(db_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM staff_users")
    finally:
        await conn.close()


async def test_a_refused_form_shows_each_message_beside_its_field(client, staff_login, db_url):
    admin = await staff_login("admin")
    before = await _staff_count(db_url)
    typed = {
        "username": "Lan Nguyen",
        "display_name": "Nguyễn Thị Lan",
        "role": "attendant",
        "password": "short",
    }
    resp = await client.post(
        "/admin/staff",
        data={"csrf_token": admin.csrf, **typed},
        headers=admin.headers(),
        allow_redirects=False,
    )
    html = await resp.text()
    assert resp.status == 422
    assert 'id="form-error"' in html and "Chưa lưu" in html
    assert 'id="err-username"' in html and "Không đúng định dạng." in html
    assert 'id="err-password"' in html and "Cần ít nhất 10 ký tự." in html
    assert 'aria-invalid="true" aria-describedby="err-password"' in html
    assert 'value="Nguyễn Thị Lan"' in html  # what was typed is kept
    assert "String should" not in html and "should match pattern" not in html  # never pydantic's English
    assert await _staff_count(db_url) == before

    client.session.cookie_jar.update_cookies({"lang": "en"})
    english = await client.post(
        "/admin/staff",
        data={"csrf_token": admin.csrf, **typed},
        headers=admin.headers(),
        allow_redirects=False,
    )
    html = await english.text()
    assert (
        english.status == 422 and "At least 10 characters." in html and "Not in the expected format." in html
    )


async def test_a_service_refusal_lands_beside_the_field_too(client, staff_login, db_url):
    admin = await staff_login("admin")
    taken = await staff_login("finance")
    before = await _staff_count(db_url)
    resp = await client.post(
        "/admin/staff",
        data={
            "csrf_token": admin.csrf,
            "username": taken.username,
            "display_name": "Someone",
            "role": "finance",
            "password": "a long enough password",
        },
        headers=admin.headers(),
        allow_redirects=False,
    )
    html = await resp.text()
    assert resp.status == 409 and 'id="err-username"' in html
    assert await _staff_count(db_url) == before


@pytest.mark.parametrize(
    "data",
    [
        {
            "username": ["lan", "hoa"],
            "display_name": "Lan",
            "role": "attendant",
            "password": "a long password",
        },
        {"username": "lan\x00", "display_name": "Lan", "role": "attendant", "password": "a long password"},
    ],
)
async def test_repeated_keys_and_nul_are_refused(client, staff_login, db_url, data):
    from multidict import MultiDict

    admin = await staff_login("admin")
    before = await _staff_count(db_url)
    body = MultiDict([("csrf_token", admin.csrf)])
    for key, value in data.items():
        for one in value if isinstance(value, list) else [value]:
            body.add(key, one)
    resp = await client.post("/admin/staff", data=body, headers=admin.headers(), allow_redirects=False)
    assert resp.status == 422
    # The form again, the message beside the field, in the person's language (not an API problem).
    html = await resp.text()
    assert resp.content_type == "text/html" and 'id="err-username"' in html
    assert "gửi nhiều lần" in html or "ký tự ẩn" in html
    assert await _staff_count(db_url) == before


async def test_an_over_long_field_is_shown_beside_it_and_not_typed_back(client, staff_login, db_url):
    from core.field_messages import field_message
    from core.forms import MAX_FORM_FIELD_CHARS

    admin = await staff_login("admin")
    before = await _staff_count(db_url)
    data = {
        "csrf_token": admin.csrf,
        "username": "lan",
        "display_name": "L" * (MAX_FORM_FIELD_CHARS + 1),
        "role": "attendant",
        "password": "a long password",
    }
    resp = await client.post("/admin/staff", data=data, headers=admin.headers(), allow_redirects=False)
    html = await resp.text()
    expected = field_message("string_too_long", "vi", {"max_length": MAX_FORM_FIELD_CHARS})
    assert resp.status == 422 and 'id="err-display_name"' in html and expected in html
    assert "L" * (MAX_FORM_FIELD_CHARS + 1) not in html
    assert await _staff_count(db_url) == before


async def test_a_form_without_its_csrf_token_changes_nothing(client, staff_login, db_url):
    admin = await staff_login("admin")
    before = await _staff_count(db_url)
    resp = await client.post(
        "/admin/staff",
        data={"username": "lan", "display_name": "Lan", "role": "attendant", "password": "a long password"},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert resp.status == 403
    assert await _staff_count(db_url) == before


def test_every_form_route_declares_its_model_and_page(make_app):
    from core.appkeys import REGISTRY

    app = make_app()
    legacy = [ep.operation_id for ep in app[REGISTRY].endpoints if ep.form is True]
    # Log out posts nothing but its CSRF token and cannot be refused; everything else is a declared form.
    assert set(legacy) <= {"logout", *LEGACY_FORMS}, legacy


# Forms still read by hand while their modules are split (issue 9, points 5–6); must end empty.
LEGACY_FORMS: set[str] = set()
