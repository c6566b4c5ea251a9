"""Account verification: ask the bank who holds a beneficiary's account (name inquiry through the bank-scheme
seam), compare, and record the verdict. Only a verified account is ever paid.

The route: the bank profile whose BIN is the account's, else the city's own bank (a citypay-bank-v1 profile
of a collection account), which answers for other banks' accounts as NAPAS does — the simulated bank plays
that network, so in the demo every BIN is asked through the demo profile (docs/ARCHITECTURE.md). The address
is CITYPAY_BANKSIM_URL, as for statements and payouts: a bank profile holds no address yet.

The verdict: closed / blocked / deceased / not_found as the bank says; for an open account the CCCD outranks
the name — id_match true → verified even if the name differs in form; id_match false → mismatch even if the
name matches; no id answer → the name decides (`disbursements.names`: exact or the same words reordered →
verified, else mismatch). A verified account stays valid for the shortest verification validity of the
beneficiary's programmes (`verified_until`); after that the roster holds it as `expired` until verified again.

The bank is asked with no transaction open (record intent, call, record outcome); the answer is kept masked
(the bank's name as `N*** V*** A***`, never the account number) in the account and in its history
(`disb_account_checks`), audited. A mismatch is decided by two people (core/approvals.py): finance proposes
accept or reject with a note, an approver decides (kinds disbursements.accept_mismatch / reject_mismatch);
accepted → verified; rejected → it stays mismatch until the account changes. A beneficiary whose payouts
execution stopped (AC04 closed, MD07 deceased) is released the same way (disbursements.resume_payments).

"Verify all" queues one outbox item per unverified or expired active account (kind disbursements.verify):
the worker (a few at a time) survives a kill — an item whose process died is claimed again when its lease
runs out, and a name inquiry is safe to repeat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.approvals import Approval, ApprovalPending, pending_approval_for, propose, register_approval_handler
from core.audit import record_audit
from core.errors import Conflict, NotFound, Problem
from core.keys import AppKeys
from core.outbox import Item, Kind, OutboxWorker, Outcome, done, enqueue, requeue, retry
from core.settings import Settings
from disbursements.beneficiaries import decrypt_account, decrypt_name, decrypt_national_id
from disbursements.names import NameMatch, mask_name, match_names
from payments import BankProfile, NotSupported, load_bank_profile, scheme_named, statement_sources

log = structlog.get_logger("citypay.disbursements")

VERIFY_KIND = "disbursements.verify"
ACCEPT_KIND = "disbursements.accept_mismatch"
REJECT_KIND = "disbursements.reject_mismatch"
RESUME_KIND = "disbursements.resume_payments"
SYSTEM_ACTOR = "system:disbursements.verify"
WORKER_CONCURRENCY = 8  # name inquiries in flight at once from one process
DEFAULT_VALID_DAYS = 90
SCHEME = "citypay-bank-v1"


class BankUnavailable(Problem):
    status, slug = 503, "disbursements-bank-unavailable"
    title_vi = "Ngân hàng chưa trả lời, vui lòng thử lại sau"
    title_en = "The bank did not answer; try again later"


class NoActiveAccount(Conflict):
    slug = "disbursements-no-active-account"
    title_vi, title_en = "Người hưởng chưa có tài khoản đang dùng", "The beneficiary has no active account"


class NotReviewable(Conflict):
    slug = "disbursements-not-reviewable"
    title_vi, title_en = "Không thể đề xuất quyết định này", "Nothing to decide here"


@dataclass(frozen=True)
class VerifyOutcome:
    account_id: int
    state: str
    checked_at: datetime
    verified_until: datetime | None
    bank_name_masked: str | None
    id_match: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "state": self.state,
            "checked_at": self.checked_at,
            "verified_until": self.verified_until,
            "bank_name_masked": self.bank_name_masked,
            "id_match": self.id_match,
        }


# Route to the bank ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InquiryRoute:
    profile: BankProfile
    base_url: str
    direct: bool  # the profile is the account's own bank (else the city's bank asks the network)


async def inquiry_route(
    conn: asyncpg.Connection, keys: AppKeys, settings: Settings, bank_bin: str
) -> InquiryRoute:
    if not settings.banksim_url:
        raise BankUnavailable("no bank address is configured for name inquiries (CITYPAY_BANKSIM_URL)")
    sources = [s for s in await statement_sources(conn) if s.scheme == SCHEME]
    ordered = sorted(sources, key=lambda s: s.bin != bank_bin)  # the account's own bank first
    for source in ordered:
        profile = await load_bank_profile(conn, keys, source.bank_code)
        if profile is not None:
            return InquiryRoute(profile, settings.banksim_url, direct=source.bin == bank_bin)
    raise BankUnavailable(
        "no active bank profile offers name inquiries (a citypay-bank-v1 collection account)"
    )


# The verdict (pure) -----------------------------------------------------------------------------------------


def verdict(answer: dict[str, Any], our_name: str) -> tuple[str, NameMatch | None]:
    """(state, name match) for a bank answer that is not `unknown`."""
    status = answer["status"]
    if status in ("closed", "blocked", "deceased", "not_found"):
        return status, None
    name_match = match_names(our_name, answer["name"])
    if answer.get("id_match") is True:
        return "verified", name_match
    if answer.get("id_match") is False:
        return "mismatch", name_match
    return ("verified" if name_match.matches else "mismatch"), name_match


def _masked_answer(
    answer: dict[str, Any], name_match: NameMatch | None, route: InquiryRoute
) -> dict[str, Any]:
    kept: dict[str, Any] = {
        "status": answer["status"],
        "bank_code": route.profile.code,
        "route": "direct" if route.direct else "network",
    }
    if answer.get("name"):
        kept["name_masked"] = mask_name(answer["name"])
    if answer.get("reason_code"):
        kept["reason_code"] = answer["reason_code"]
    if "id_match" in answer:
        kept["id_match"] = answer["id_match"]
    if name_match is not None:
        kept["name_match"] = name_match.value
    if answer.get("error"):
        kept["error"] = str(answer["error"])[:200]
    return kept


# Verifying --------------------------------------------------------------------------------------------------


async def _account_for_check(conn: asyncpg.Connection, account_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT a.id, a.beneficiary_id, a.bank_bin, a.account_enc, a.active, a.state, a.verified_until,
                  a.checked_at, b.national_id_enc, b.full_name_enc,
                  coalesce((SELECT min(p.verification_valid_days) FROM disb_enrolments e
                              JOIN disb_programmes p ON p.code = e.programme
                             WHERE e.beneficiary_id = a.beneficiary_id AND e.active), $2) AS valid_days
             FROM disb_accounts a JOIN disb_beneficiaries b ON b.id = a.beneficiary_id
            WHERE a.id = $1""",
        account_id,
        DEFAULT_VALID_DAYS,
    )


async def verify_account(
    pool: asyncpg.Pool,
    keys: AppKeys,
    settings: Settings,
    account_id: int,
    *,
    actor: str,
    only_if_due: bool = False,
    session: Any = None,
) -> VerifyOutcome | None:
    """Ask the bank about the account and record the verdict. `only_if_due` (the queued run): None, without
    asking, when the account is no longer active or no longer unverified/expired."""
    async with pool.acquire() as conn:
        row = await _account_for_check(conn, account_id)
        if row is None:
            raise NotFound(f"no account {account_id}", field="account_id")
        if not row["active"]:
            if only_if_due:
                return None
            raise NoActiveAccount("the account was replaced; verify the beneficiary's active account")
        if only_if_due and not (
            row["state"] == "unverified"
            or (
                row["state"] == "verified"
                and row["verified_until"] <= datetime.now(row["verified_until"].tzinfo)
            )
        ):
            return None
        route = await inquiry_route(conn, keys, settings, row["bank_bin"])
    number = decrypt_account(keys, row["account_enc"])
    try:
        answer = await scheme_named(route.profile.scheme).name_inquiry(
            route.profile,
            row["bank_bin"],
            number,
            national_id=decrypt_national_id(keys, row["national_id_enc"]),
            base_url=route.base_url,
            session=session,
        )
    except NotSupported as exc:
        answer = {"status": "unknown", "error": str(exc)}
    if answer["status"] == "unknown":
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO disb_account_checks (account_id, state, bank_answer, id_match, checked_by)
                   VALUES ($1, 'error', $2, NULL, $3)""",
                account_id,
                _masked_answer(answer, None, route),
                actor,
            )
        log.warning("name_inquiry_unanswered", account_id=account_id, bank=route.profile.code)
        raise BankUnavailable(
            f"the bank did not answer the name inquiry ({answer.get('error', 'no answer')})"
        )
    state, name_match = verdict(answer, decrypt_name(keys, row["full_name_enc"]))
    kept = _masked_answer(answer, name_match, route)
    id_match = answer.get("id_match")
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT active, state FROM disb_accounts WHERE id = $1 FOR UPDATE", account_id
        )
        if not current["active"]:
            raise NoActiveAccount("the account was replaced while the bank was asked; verify the new one")
        stored = await conn.fetchrow(
            """UPDATE disb_accounts
                  SET state = $2, bank_answer = $3, id_match = $4, checked_at = now(),
                      verified_until = CASE WHEN $2 = 'verified' THEN now() + make_interval(days => $5) END,
                      review = NULL, reviewed_by = NULL, reviewed_at = NULL
                WHERE id = $1
            RETURNING checked_at, verified_until""",
            account_id,
            state,
            kept,
            id_match,
            row["valid_days"],
        )
        await conn.execute(
            """INSERT INTO disb_account_checks
                   (account_id, state, bank_answer, id_match, checked_by, checked_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            account_id,
            state,
            kept,
            id_match,
            actor,
            stored["checked_at"],
        )
        await record_audit(
            conn,
            actor=actor,
            action="disbursements.account.checked",
            subject=f"disb_beneficiary:{row['beneficiary_id']}",
            before={"account_id": account_id, "state": current["state"]},
            after={"account_id": account_id, "state": state, "bank_answer": kept},
        )
    return VerifyOutcome(
        account_id, state, stored["checked_at"], stored["verified_until"], kept.get("name_masked"), id_match
    )


async def active_account_id(conn: asyncpg.Connection, beneficiary_id: int) -> int:
    if not await conn.fetchval("SELECT 1 FROM disb_beneficiaries WHERE id = $1", beneficiary_id):
        raise NotFound(f"no beneficiary {beneficiary_id}", field="id")
    account_id = await conn.fetchval(
        "SELECT id FROM disb_accounts WHERE beneficiary_id = $1 AND active", beneficiary_id
    )
    if account_id is None:
        raise NoActiveAccount("record an account for the beneficiary first")
    return account_id


async def verify_beneficiary(
    pool: asyncpg.Pool, keys: AppKeys, settings: Settings, beneficiary_id: int, *, actor: str
) -> VerifyOutcome:
    async with pool.acquire() as conn:
        account_id = await active_account_id(conn, beneficiary_id)
    outcome = await verify_account(pool, keys, settings, account_id, actor=actor)
    assert outcome is not None  # not only_if_due: an answer or an exception
    return outcome


# Verify all (the outbox) ------------------------------------------------------------------------------------


async def queue_verifications(conn: asyncpg.Connection, *, actor: str) -> int:
    """One outbox item per active account of an enrolled beneficiary that is unverified or expired. The key
    names the account and its last check, so asking twice queues it once; a queued run that gave up is
    made due again."""
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT a.id, coalesce(extract(epoch FROM a.checked_at)::bigint, 0) AS checked
                 FROM disb_accounts a
                WHERE a.active
                  AND (a.state = 'unverified' OR (a.state = 'verified' AND a.verified_until <= now()))
                  AND EXISTS (SELECT 1 FROM disb_enrolments e WHERE e.beneficiary_id = a.beneficiary_id
                                 AND e.active)
                ORDER BY a.id"""
        )
        for r in rows:
            key = f"disb-verify:{r['id']}:{r['checked']}"
            await enqueue(conn, VERIFY_KIND, {"account_id": r["id"]}, key)
            await requeue(conn, key)
        if rows:
            await record_audit(
                conn,
                actor=actor,
                action="disbursements.verify_all.queued",
                subject="disb_accounts",
                after={"queued": len(rows)},
            )
    return len(rows)


def verify_kind(pool: asyncpg.Pool, keys: AppKeys, settings: Settings, session: Any = None) -> Kind:
    async def handler(item: Item) -> Outcome:
        try:
            outcome = await verify_account(
                pool,
                keys,
                settings,
                int(item.payload["account_id"]),
                actor=SYSTEM_ACTOR,
                only_if_due=True,
                session=session,
            )
        except BankUnavailable as exc:
            return retry(exc.detail or "the bank did not answer")
        except (NoActiveAccount, NotFound):
            return done()
        return done(outcome.state if outcome else "skipped")

    return Kind(handler, max_attempts=20, base_s=5.0, cap_s=600.0)


def verification_worker(
    pool: asyncpg.Pool, keys: AppKeys, settings: Settings, session: Any = None
) -> OutboxWorker:
    """`session`: a pooled aiohttp session (keep-alive) for the name inquiries; None opens one per inquiry."""
    return OutboxWorker(
        pool,
        {VERIFY_KIND: verify_kind(pool, keys, settings, session)},
        lease_s=60.0,
        batch=WORKER_CONCURRENCY,
        poll_interval_s=1.0,
        name="disbursements-verify",
    )


async def verification_runner(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context (serving processes): the queued verifications run in this process."""
    connector = aiohttp.TCPConnector(limit=WORKER_CONCURRENCY, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector) as session:
        worker = verification_worker(app[POOL], app[KEYS], app[SETTINGS], session)
        async with worker.running():
            yield


# Reviews (four eyes) ----------------------------------------------------------------------------------------


async def propose_mismatch_decision(
    conn: asyncpg.Connection, beneficiary_id: int, *, decision: str, note: str, maker: str
) -> Approval:
    """Finance proposes to accept (pay this account although the names differ) or reject a mismatch; an
    approver — another person — decides through /api/v1/approvals/{id}/approve."""
    async with conn.transaction():
        account_id = await active_account_id(conn, beneficiary_id)
        account = await conn.fetchrow(
            "SELECT state, review, checked_at, id_match FROM disb_accounts WHERE id = $1 FOR UPDATE",
            account_id,
        )
        if decision == "accept" and account["id_match"] is False:
            # SPEC: a confirmed ID number outranks the name — and so does a refuted one. The bank says the
            # account's holder has another CCCD: a spelling of the name cannot make it this person's.
            raise NotReviewable(
                "the bank says this account's holder has another CCCD: it cannot be accepted, only rejected",
                field="decision",
                message="disb.review.id_refuted",
            )
        if account["state"] != "mismatch" or account["review"] is not None:
            raise NotReviewable(
                f"the active account is {account['state']}"
                + (f" and was already {account['review']}" if account["review"] else "")
                + "; only an undecided mismatch is reviewed",
                field="decision",
                message="disb.review.not_mismatch",
            )
        subject = f"disb_account:{account_id}"
        if await pending_approval_for(conn, "disbursements.", subject):
            raise ApprovalPending(
                "a decision on this mismatch is already pending", message="approvals.pending"
            )
        return await propose(
            conn,
            ACCEPT_KIND if decision == "accept" else REJECT_KIND,
            subject,
            {
                "account_id": account_id,
                "beneficiary_id": beneficiary_id,
                "decision": decision,
                "checked_at": account["checked_at"].isoformat(),
            },
            None,
            maker,
            note,
        )


async def _decide_mismatch(conn: asyncpg.Connection, payload: dict[str, Any], approval: Approval) -> None:
    account = await conn.fetchrow(
        """SELECT a.id, a.active, a.state, a.review, a.checked_at, a.beneficiary_id, a.id_match,
                  coalesce((SELECT min(p.verification_valid_days) FROM disb_enrolments e
                              JOIN disb_programmes p ON p.code = e.programme
                             WHERE e.beneficiary_id = a.beneficiary_id AND e.active), $2) AS valid_days
             FROM disb_accounts a WHERE a.id = $1 FOR UPDATE""",
        int(payload["account_id"]),
        DEFAULT_VALID_DAYS,
    )
    if (
        account is None
        or not account["active"]
        or account["state"] != "mismatch"
        or account["review"] is not None
        or account["checked_at"].isoformat() != payload["checked_at"]
    ):
        raise NotReviewable(
            "the account changed or was checked again since this was proposed; reject this request",
            message="disb.review.stale",
        )
    accept = payload["decision"] == "accept"
    if accept and account["id_match"] is False:  # proposed before the bank's answer said so
        raise NotReviewable(
            "the bank says this account's holder has another CCCD: it cannot be accepted, only rejected",
            message="disb.review.id_refuted",
        )
    await conn.execute(
        """UPDATE disb_accounts
              SET state = CASE WHEN $2 THEN 'verified' ELSE state END,
                  verified_until = CASE WHEN $2 THEN now() + make_interval(days => $3) END,
                  review = CASE WHEN $2 THEN 'accepted' ELSE 'rejected' END,
                  reviewed_by = $4, reviewed_at = now()
            WHERE id = $1""",
        account["id"],
        accept,
        account["valid_days"],
        approval.checker,
    )
    await record_audit(
        conn,
        actor=approval.checker or approval.maker,
        action="disbursements.mismatch.accepted" if accept else "disbursements.mismatch.rejected",
        subject=f"disb_beneficiary:{account['beneficiary_id']}",
        before={"account_id": account["id"], "state": "mismatch"},
        after={
            "account_id": account["id"],
            "state": "verified" if accept else "mismatch",
            "maker": approval.maker,
            "approval_id": approval.id,
        },
    )


async def propose_resume_payments(
    conn: asyncpg.Connection, beneficiary_id: int, *, note: str, maker: str
) -> Approval:
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT payments_stopped_reason FROM disb_beneficiaries WHERE id = $1 FOR UPDATE", beneficiary_id
        )
        if row is None:
            raise NotFound(f"no beneficiary {beneficiary_id}", field="id")
        if row["payments_stopped_reason"] is None:
            raise NotReviewable(
                "payments to this beneficiary are not stopped", message="disb.review.not_stopped"
            )
        subject = f"disb_beneficiary:{beneficiary_id}"
        if await pending_approval_for(conn, RESUME_KIND, subject):
            raise ApprovalPending("a resumption is already pending", message="approvals.pending")
        return await propose(
            conn,
            RESUME_KIND,
            subject,
            {"beneficiary_id": beneficiary_id, "reason": row["payments_stopped_reason"]},
            None,
            maker,
            note,
        )


async def _resume(conn: asyncpg.Connection, payload: dict[str, Any], approval: Approval) -> None:
    beneficiary_id = int(payload["beneficiary_id"])
    cleared = await conn.fetchval(
        """UPDATE disb_beneficiaries SET payments_stopped_reason = NULL, payments_stopped_at = NULL,
                  updated_at = now()
            WHERE id = $1 AND payments_stopped_reason = $2 RETURNING id""",
        beneficiary_id,
        payload["reason"],
    )
    if cleared is None:
        raise NotReviewable(
            "the beneficiary is no longer stopped for this reason; reject this request",
            message="disb.review.stale",
        )
    await record_audit(
        conn,
        actor=approval.checker or approval.maker,
        action="disbursements.payments.resumed",
        subject=f"disb_beneficiary:{beneficiary_id}",
        before={"payments_stopped_reason": payload["reason"]},
        after={"payments_stopped_reason": None, "maker": approval.maker, "approval_id": approval.id},
    )


register_approval_handler(ACCEPT_KIND, _decide_mismatch)
register_approval_handler(REJECT_KIND, _decide_mismatch)
register_approval_handler(RESUME_KIND, _resume)
