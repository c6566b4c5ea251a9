"""Words people read (issue 12, points 6 and 7), over every page of the app at once.

Errors: every HTML form the app registers is posted in Vietnamese with values a person might get wrong
(nothing filled in, letters where a number belongs, a hidden character, a number too large), and every
sentence the answer shows as an error must be one of the catalogue's — never an API detail ("amount: a whole
number of đồng"), a parameter name or an internal id.
The error pages (404, 403) and the login page are asked too.

Formats: every page a staff member or citizen can open without an id, with the demo data loaded, is read for
English-style numbers and dates in the visible text: "1,234,567", "12.5%", "2026-12-01", "AM"/"PM", and a
date shown with the 07:00 that midnight Hà Nội becomes in UTC.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from core.appkeys import REGISTRY
from core.auth import CSRF_FIELD, SESSION_COOKIE
from core.vocabulary import ROLES
from main import DEMOS
from tests.catalogue import not_in_catalogue

ERROR_CLASSES = {"error", "field-error", "error-sentence"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Texts(HTMLParser):
    """Visible text of a page, and the texts of its error elements (class error/field-error, role=alert)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, is_error, hidden/invisible)
        self.errors: list[list[str]] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        is_error = bool(classes & ERROR_CLASSES) or a.get("role") == "alert"
        hidden = (
            "hidden" in a
            or tag in ("script", "style", "template", "title", "noscript")
            or any(h for _, _, h in self.stack)
        )
        self.stack.append((tag, is_error, hidden))
        if is_error and not hidden:
            self.errors.append([])

    def handle_endtag(self, tag):
        while self.stack:
            t, is_error, hidden = self.stack.pop()
            if is_error and not hidden and self.errors:
                text = " ".join(" ".join(self.errors[-1]).split())
                self.errors[-1] = [text]
            if t == tag:
                break

    def handle_data(self, data):
        if any(h for _, _, h in self.stack):
            return
        self.visible.append(data)
        if any(e for _, e, _ in self.stack) and self.errors:
            self.errors[-1].append(data)


def read_page(html: str) -> tuple[list[str], str]:
    parser = _Texts()
    parser.feed(html)
    errors = [" ".join(" ".join(e).split()) for e in parser.errors]
    return [e for e in errors if e], " ".join(" ".join(parser.visible).split())


def _role_for(ep) -> str | None:
    if ep.access.public:
        return None
    for role in ("admin", "finance", "approver", "attendant"):
        if role in ep.access.roles:
            return role
    return next(iter(sorted(ep.access.roles)), None)


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "khong-co", path)


BAD_VALUES = ("", "abc", "x\u200by", "-1", "9" * 20)


async def test_every_form_refusal_is_a_catalogue_sentence(make_app, aiohttp_client, staff_login):
    app = make_app()
    client = await aiohttp_client(app)
    logins = {role: await staff_login(role) for role in ROLES}
    forms = [ep for ep in app[REGISTRY].endpoints if isinstance(ep.form, type) and ep.method == "POST"]
    assert len(forms) >= 10, "the app's forms were not found"
    foreign: dict[str, set[str]] = {}
    seen = 0
    for ep in forms:
        role = _role_for(ep)
        login = logins.get(role) if role else None
        cookies = {"lang": "vi"}
        if login:
            cookies[SESSION_COOKIE] = login.cookie
        names = list(ep.form.model_fields)
        for bad in BAD_VALUES:
            data = {name: bad for name in names}
            if login:
                data[CSRF_FIELD] = login.csrf
            resp = await client.post(_fill(ep.path), data=data, cookies=cookies, allow_redirects=False)
            assert resp.status < 500, (ep.path, bad, resp.status)
            if not resp.content_type.startswith("text/html"):
                continue
            errors, _ = read_page(await resp.text())
            seen += len(errors)
            for text in not_in_catalogue(errors):
                foreign.setdefault(f"{ep.method} {ep.path}", set()).add(text)
    assert seen >= 3 * len(forms), f"only {seen} error texts were read: is the page reader broken?"
    assert not foreign, "error texts that are not catalogue sentences:\n" + "\n".join(
        f"{where}: {sorted(texts)}" for where, texts in sorted(foreign.items())
    )


@pytest.mark.parametrize(
    ("path", "role", "sentence"),
    [
        ("/khong-co-trang-nay", None, "Không tìm thấy trang."),
        ("/admin/staff", "attendant", "Bạn không có quyền xem trang này."),
        ("/receipts/00000000-0000-0000-0000-000000000000", None, None),
        ("/pay/KHONGCO", None, None),
    ],
)
async def test_error_pages_say_a_catalogue_sentence_not_the_api_detail(
    client, staff_login, path, role, sentence
):
    cookies = {"lang": "vi"}
    if role:
        cookies[SESSION_COOKIE] = (await staff_login(role)).cookie
    resp = await client.get(path, cookies=cookies, headers={"Accept": "text/html"})
    assert resp.status in (403, 404), resp.status
    html = await resp.text()
    errors, visible = read_page(html)
    assert not_in_catalogue(errors) == []
    if sentence:
        assert sentence in visible
    assert "no such" not in visible.lower()


async def test_login_refusals_are_catalogue_sentences(client, staff_login):
    login = await staff_login("admin")
    page = await client.get("/login", cookies={"lang": "vi"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    data = {"username": login.username, "password": "sai-mat-khau"}
    if token:
        data["csrf_token"] = token.group(1)
    resp = await client.post("/login", data=data, cookies={"lang": "vi"}, allow_redirects=False)
    errors, _ = read_page(await resp.text())
    assert errors, "the refusal shows no error"
    assert not_in_catalogue(errors) == []


# Formats --------------------------------------------------------------------------------------------------

WRONG_FORMATS = {
    "English thousands": re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])"),
    "English decimal percent": re.compile(r"\d+\.\d+\s?%"),
    "percent without a space": re.compile(r"\d%"),
    "ISO date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "12-hour time": re.compile(r"\b\d{1,2}:\d{2}\s?(?:AM|PM|am|pm)\b"),
    "dong with a plain number": re.compile(r"(?<![\d.])\d{4,}\s?₫"),
}


@pytest.fixture
async def demo_loaded(db_url, settings, keys):
    from core.demo import load_demo_data

    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)


async def test_pages_write_numbers_and_dates_the_vietnamese_way(
    make_app, aiohttp_client, staff_login, demo_loaded
):
    app = make_app()
    client = await aiohttp_client(app)
    logins = {role: await staff_login(role) for role in ROLES}
    pages = [
        ep
        for ep in app[REGISTRY].endpoints
        if ep.method == "GET" and ep.produces == "text/html" and "{" not in ep.path
    ]
    assert len(pages) >= 15
    found: dict[str, list[str]] = {}
    for ep in pages:
        role = _role_for(ep)
        cookies = {"lang": "vi"}
        if role:
            cookies[SESSION_COOKIE] = logins[role].cookie
        resp = await client.get(ep.path, cookies=cookies, allow_redirects=False)
        if resp.status != 200 or not resp.content_type.startswith("text/html"):
            continue
        _, visible = read_page(await resp.text())
        for what, pattern in WRONG_FORMATS.items():
            for m in pattern.finditer(visible):
                context = visible[max(m.start() - 30, 0) : m.end() + 30]
                found.setdefault(ep.path, []).append(f"{what}: …{context}…")
    assert not found, "pages that write numbers or dates the English way:\n" + "\n".join(
        f"{path}: {hits[:5]}" for path, hits in sorted(found.items())
    )
