"""Server-rendered pages: one Jinja2 environment, a shared base template, vi/en text, money, local times."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from core import page_messages  # noqa: F401  (the page frame's own texts: confirmation dialog, footer)
from core.appkeys import PRINCIPAL, TEMPLATES
from core.errors import Problem
from core.i18n import request_language, translate
from core.money import format_local_date, format_local_time, format_number, format_percent, format_vnd
from core.static import static_url

ROOT = Path(__file__).resolve().parent.parent

# Pages carry no third-party content: forbid it outright. Scripts come only from our own files (core.static),
# so an injected <script> or onclick= does not run; styles may stay inline (they cannot run code).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def content_security_policy(extra: dict[str, str] | None = None) -> str:
    """The policy above with sources added to some directives, for the one page that needs them, e.g.
    {"img-src": "https://tile.openstreetmap.org"} for a map, {"script-src": "'wasm-unsafe-eval'"} for an
    in-browser OCR engine. A directive not in the base policy is added whole."""
    if not extra:
        return CONTENT_SECURITY_POLICY
    directives = [d.strip() for d in CONTENT_SECURITY_POLICY.split(";")]
    names = [d.split()[0] for d in directives]
    for name, sources in extra.items():
        if name in names:
            i = names.index(name)
            directives[i] = f"{directives[i]} {sources}"
        else:
            directives.append(f"{name} {sources}")
    return "; ".join(directives)


def create_templates(package_dirs: list[str]) -> jinja2.Environment:
    """Each capability keeps its templates in <package>/templates and names them "<package>/<file>", so two
    packages may both have a `list.html`."""
    loader = jinja2.PrefixLoader(
        {p: jinja2.FileSystemLoader(str(ROOT / p / "templates")) for p in package_dirs}
    )
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html"]), enable_async=False)
    env.filters["vnd"] = format_vnd
    env.filters["localtime"] = format_local_time
    env.filters["localdate"] = format_local_date
    env.filters["percent"] = jinja2.pass_context(
        lambda c, v, digits=1: format_percent(v, digits, c.get("lang", "vi"))
    )
    env.filters["number"] = jinja2.pass_context(
        lambda c, v, digits=0: format_number(v, digits, c.get("lang", "vi"))
    )
    env.filters["urlquote"] = lambda s: quote(str(s), safe="")
    env.globals["static_url"] = static_url  # scripts are files under /static, never inline (see the CSP)
    return env


def _context(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    lang = request_language(request)
    principal = request.get(PRINCIPAL)
    return {
        "lang": lang,
        "t": lambda key, **kw: translate(key, lang, **kw),
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "current_path": request.path_qs,
        **extra,
    }


def render_html(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    csp_extra: dict[str, str] | None = None,
    **ctx: Any,
) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(_context(request, ctx))
    resp = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    resp.headers["Content-Security-Policy"] = content_security_policy(csp_extra)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


_STATUS_SENTENCES = {404: "error.not_found", 403: "error.forbidden"}


def render_error_page(request: web.Request, problem: Problem) -> web.Response:
    """The title and one catalogue sentence; the problem's `detail` is English written for API callers and
    may name parameters or internal ids, so a page never shows it."""
    lang = request_language(request)
    title = problem.title_en if lang == "en" else problem.title_vi
    sentence: str | None = problem.sentence(lang)
    if sentence == title:
        key = _STATUS_SENTENCES.get(problem.status)
        sentence = translate(key, lang) if key else None
    return render_html(
        request, "core/error.html", status=problem.status, problem=problem, title=title, sentence=sentence
    )
