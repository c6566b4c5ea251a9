"""Beneficiaries: who the city pays, in which programmes, to which account.

The CCCD, the full name and the account number are personal data: stored only encrypted (core.pii, one
context each), found through a keyed hash (the CCCD and the account number), and shown masked in every
answer, page and log (`national_id_masked`, `full_name_masked`, `account_masked`). Nothing here logs a value.

One beneficiary per CCCD (the hash is UNIQUE); one enrolment per (programme, beneficiary) — the primary key,
so a CCCD enrolled twice in a programme is refused by the database; one active account per beneficiary (a
partial unique index). A change of account is a new account row in state `unverified`: a verification never
carries over to another account. Every change is audited in the transaction that makes it.

The checks a person can fix (`check_new_beneficiary`) are shared by the API and the CSV import, so both
refuse the same things with the same words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from core.i18n import register_messages
from core.keys import AppKeys
from core.pii import decrypt_pii, encrypt_pii, lookup_hash, mask_account, mask_citizen_id
from disbursements.cccd import cccd_problem, clean_cccd
from disbursements.names import invisible_characters, mask_name, normalise_name
from disbursements.programmes import MAX_MONTHLY_AMOUNT, PROGRAMMES
from payments import payout_destination_problem

NATIONAL_ID_CONTEXT = "disb.national_id"
NAME_CONTEXT = "disb.name"
ACCOUNT_CONTEXT = "disb.account"

ACCOUNT_STATES = ("unverified", "verified", "mismatch", "not_found", "closed", "blocked", "deceased")
HOLD_REASONS = (
    "no_account",
    "unverified",
    "expired",
    "mismatch",
    "not_found",
    "closed",
    "blocked",
    "deceased",
    "stopped_ac04",
    "stopped_md07",
)
EARLIEST_BIRTH = date(1900, 1, 1)
_ACCOUNT_RE = re.compile(r"^[0-9]{6,19}$")
_BIN_RE = re.compile(r"^[0-9]{6}$")
_NAME_PUNCTUATION = frozenset(" -'’.")

register_messages(
    {
        "disb.ben.enrolled_twice": (
            "Người này đã có trong chương trình này (trùng số CCCD).",
            "This person is already enrolled in this programme (same CCCD).",
        ),
        "disb.ben.exists": (
            "Số CCCD này đã được đăng ký.",
            "This CCCD is already registered.",
        ),
        "disb.ben.account_active": (
            "Người hưởng chỉ có một tài khoản đang dùng.",
            "A beneficiary has one active account.",
        ),
        "disb.ben.unknown_bin": (
            "Không có ngân hàng nào mang mã BIN này trong danh sách ngân hàng.",
            "No bank in the bank list has this BIN.",
        ),
        "disb.ben.city_account": (
            "Đây là tài khoản của thành phố, không phải của người hưởng.",
            "This is one of the city's own accounts, not the beneficiary's.",
        ),
        "disb.ben.account_shared": (
            "Tài khoản này đã là tài khoản nhận tiền của một người hưởng khác; mỗi tài khoản chỉ nhận "
            "cho một người.",
            "This account already receives another beneficiary's payments; an account is paid to one person.",
        ),
    }
)


class EnrolledTwice(Conflict):
    slug = "disbursements-enrolled-twice"
    title_vi = "Trùng người hưởng trong chương trình"
    title_en = "Already enrolled in the programme"


class BeneficiaryConflict(Conflict):
    slug = "disbursements-beneficiary-conflict"
    title_vi = "Không khớp với người hưởng đã đăng ký"
    title_en = "Conflicts with the registered beneficiary"


map_constraint(
    "disb_enrolments_pkey",
    EnrolledTwice,
    "programmes",
    "this CCCD is already enrolled in one of these programmes",
    message="disb.ben.enrolled_twice",
)
map_constraint(
    "disb_beneficiaries_national_id_hash_key",
    BeneficiaryConflict,
    "national_id",
    "this CCCD is already registered",
    message="disb.ben.exists",
)
map_constraint(
    "disb_accounts_one_active",
    BeneficiaryConflict,
    "account_number",
    "the beneficiary's account changed at the same moment; reload and try again",
    message="disb.ben.account_active",
)


# Personal data --------------------------------------------------------------------------------------------


def decrypt_account(keys: AppKeys, enc: str) -> str:
    """The plain account number of a `disb_accounts.account_enc` (for the bank call, never for display)."""
    return decrypt_pii(keys, enc, context=ACCOUNT_CONTEXT)


def decrypt_name(keys: AppKeys, enc: str) -> str:
    """The full name of a `disb_beneficiaries.full_name_enc` (for the bank's name match and pain.001)."""
    return decrypt_pii(keys, enc, context=NAME_CONTEXT)


def decrypt_national_id(keys: AppKeys, enc: str) -> str:
    return decrypt_pii(keys, enc, context=NATIONAL_ID_CONTEXT)


def national_id_hash(keys: AppKeys, cccd: str) -> bytes:
    return lookup_hash(keys, cccd, context=NATIONAL_ID_CONTEXT)


def account_hash(keys: AppKeys, number: str) -> bytes:
    """Keyed hash of the account number alone (a search by number finds it at any bank)."""
    return lookup_hash(keys, number, context=ACCOUNT_CONTEXT)


# Checks a person can fix -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str
    message_vi: str
    message_en: str

    def message(self, lang: str) -> str:
        return self.message_vi if lang == "vi" else self.message_en

    def as_dict(self, lang: str = "en") -> dict[str, str]:
        return {"field": self.field, "message": self.message(lang)}


class BeneficiaryInvalid(ValidationFailed):
    """Every problem found in one beneficiary's fields (a 422 listing them)."""

    def __init__(self, problems: list[FieldError], *, lang: str = "en") -> None:
        super().__init__(
            "; ".join(f"{p.field}: {p.message_en}" for p in problems[:5]),
            field=problems[0].field if problems else None,
            errors=[p.as_dict(lang) for p in problems],
        )
        self.problems = problems


@dataclass(frozen=True)
class NewBeneficiary:
    national_id: str
    full_name: str
    birth_date: date
    amounts: dict[str, int]  # programme → monthly amount in đồng
    bank_bin: str
    account_number: str


def clean_name(raw: str) -> tuple[str | None, FieldError | None]:
    """A full name as stored: NFKC then NFC, spaces collapsed. Refused: invisible characters (named), digits,
    symbols, fewer than two letters, more than 100 characters."""
    text = unicodedata.normalize("NFKC", raw)
    hidden = invisible_characters(text.replace("\t", " ").replace("\n", " "))
    if hidden:
        return None, FieldError(
            "full_name",
            f"Họ tên có ký tự ẩn ({', '.join(hidden[:3])}); hãy gõ lại họ tên.",
            f"The name holds invisible characters ({', '.join(hidden[:3])}); type it again.",
        )
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    letters = sum(1 for ch in text if unicodedata.category(ch)[0] == "L")
    bad = [ch for ch in text if unicodedata.category(ch)[0] not in "LM" and ch not in _NAME_PUNCTUATION]
    if bad:
        return None, FieldError(
            "full_name",
            f"Họ tên chỉ gồm chữ cái, dấu cách, gạch nối, dấu nháy (không được có '{bad[0]}').",
            f"A name holds only letters, spaces, hyphens and apostrophes (not '{bad[0]}').",
        )
    if letters < 2 or len(text) > 100:
        return None, FieldError(
            "full_name", "Họ tên phải có từ 2 đến 100 ký tự.", "A name has 2 to 100 characters."
        )
    return text, None


def clean_account_number(raw: str) -> str:
    """Digits as typed, with the spaces, dots and dashes people put between groups dropped (NFKC first)."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if ch not in " .-\u00a0\t")


def check_new_beneficiary(
    *,
    national_id: str,
    full_name: str,
    birth_date: date | None,
    programmes: list[str],
    monthly_amounts: dict[str, int],
    bank_bin: str,
    account_number: str,
    defaults: dict[str, int],
    today: date,
) -> tuple[NewBeneficiary | None, list[FieldError]]:
    """The beneficiary the fields describe, or every problem found (field + Vietnamese and English text)."""
    problems: list[FieldError] = []
    if birth_date is None:
        problems.append(FieldError("birth_date", "Thiếu ngày sinh (YYYY-MM-DD).", "Birth date missing."))
    elif not EARLIEST_BIRTH <= birth_date <= today:
        problems.append(
            FieldError(
                "birth_date",
                "Ngày sinh phải từ 1900-01-01 đến hôm nay.",
                "The birth date must lie between 1900-01-01 and today.",
            )
        )
        birth_date = None
    cccd = clean_cccd(national_id)
    problem = cccd_problem(cccd, birth_date)
    if problem is not None:
        problems.append(FieldError("national_id", problem.message_vi, problem.message_en))
    name, name_problem = clean_name(full_name)
    if name_problem is not None:
        problems.append(name_problem)
    if not programmes:
        problems.append(
            FieldError("programmes", "Chọn ít nhất một chương trình.", "Name at least one programme.")
        )
    unknown = [p for p in programmes if p not in PROGRAMMES]
    if unknown:
        problems.append(
            FieldError(
                "programmes",
                f"Không có chương trình '{unknown[0][:40]}' (có: {', '.join(PROGRAMMES)}).",
                f"No programme '{unknown[0][:40]}' (known: {', '.join(PROGRAMMES)}).",
            )
        )
    if len(set(programmes)) != len(programmes):
        problems.append(
            FieldError("programmes", "Một chương trình được ghi hai lần.", "A programme is named twice.")
        )
    stray = sorted(set(monthly_amounts) - set(programmes))
    if stray:
        problems.append(
            FieldError(
                "monthly_amounts",
                f"Có số tiền cho chương trình '{stray[0][:40]}' mà người này không tham gia.",
                f"An amount is given for '{stray[0][:40]}', which is not among the programmes.",
            )
        )
    amounts: dict[str, int] = {}
    for code in programmes:
        amount = monthly_amounts.get(code, defaults.get(code))
        if amount is None:
            continue
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_MONTHLY_AMOUNT:
            problems.append(
                FieldError(
                    f"monthly_amounts.{code}",
                    f"Số tiền hằng tháng là số nguyên đồng từ 1 đến {MAX_MONTHLY_AMOUNT:,}.".replace(
                        ",", "."
                    ),
                    f"A monthly amount is a whole number of đồng from 1 to {MAX_MONTHLY_AMOUNT:,}.",
                )
            )
        else:
            amounts[code] = amount
    bin_ = unicodedata.normalize("NFKC", bank_bin).strip()
    if not _BIN_RE.match(bin_):
        problems.append(
            FieldError("bank_bin", "Mã ngân hàng (BIN) gồm 6 chữ số.", "The bank BIN is 6 digits.")
        )
    number = clean_account_number(account_number)
    if not _ACCOUNT_RE.match(number) or not number.isascii():
        problems.append(
            FieldError(
                "account_number",
                "Số tài khoản gồm 6 đến 19 chữ số.",
                "An account number is 6 to 19 digits.",
            )
        )
    if problems or birth_date is None or name is None:
        return None, problems
    return NewBeneficiary(cccd, name, birth_date, amounts, bin_, number), []


# Writing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolResult:
    beneficiary_id: int
    outcome: str  # created | enrolled (a known CCCD in a new programme) | unchanged
    enrolled: list[str] = field(default_factory=list)


async def _insert_account(
    conn: asyncpg.Connection, keys: AppKeys, beneficiary_id: int, bank_bin: str, number: str
) -> int:
    await _check_destination(conn, keys, beneficiary_id, bank_bin, number)
    return await conn.fetchval(
        """INSERT INTO disb_accounts (beneficiary_id, bank_bin, account_enc, account_hash, account_masked)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        beneficiary_id,
        bank_bin,
        encrypt_pii(keys, number, context=ACCOUNT_CONTEXT),
        account_hash(keys, number),
        mask_account(number),
    )


async def _check_destination(
    conn: asyncpg.Connection, keys: AppKeys, beneficiary_id: int, bank_bin: str, number: str
) -> None:
    """Where a beneficiary's money may go (an outside audit paid into each of these): a bank on the bank list,
    not one of the city's own accounts, and no account another beneficiary is already paid into — two CCCDs
    one digit apart with one name and one account were both verified and both paid for the same month. The
    advisory lock orders two registrations of one account at the same moment."""
    problem = await payout_destination_problem(conn, bank_bin, number)
    if problem == "unknown_bank":
        raise ValidationFailed(
            "no bank in the bank list has this BIN", field="bank_bin", message="disb.ben.unknown_bin"
        )
    if problem == "city_account":
        raise ValidationFailed(
            "this is one of the city's own accounts", field="account_number", message="disb.ben.city_account"
        )
    digest = account_hash(keys, number)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"disb-account:{digest.hex()}"
    )
    other = await conn.fetchval(
        """SELECT beneficiary_id FROM disb_accounts
            WHERE account_hash = $1 AND bank_bin = $2 AND active AND beneficiary_id <> $3 LIMIT 1""",
        digest,
        bank_bin,
        beneficiary_id,
    )
    if other is not None:
        raise BeneficiaryConflict(
            f"this account already receives beneficiary {other}'s payments",
            field="account_number",
            message="disb.ben.account_shared",
        )


async def enrol_beneficiary(
    conn: asyncpg.Connection,
    keys: AppKeys,
    new: NewBeneficiary,
    *,
    actor: str,
    idempotent: bool = False,
) -> EnrolResult:
    """Registers the person (if the CCCD is new) with their account, and enrols them in the programmes.

    A known CCCD must come with the same name, birth date and active account (else 409: the account is
    changed through `change_account`, on purpose). Enrolling it again in a programme it is already in is
    refused by the database (409) — unless `idempotent` (the CSV import's re-upload), where the same
    enrolment with the same amount is `unchanged`."""
    cccd_hash = national_id_hash(keys, new.national_id)
    async with own_or_joined_transaction(conn):
        row = await conn.fetchrow(
            """SELECT id, full_name_enc, birth_date FROM disb_beneficiaries
                WHERE national_id_hash = $1 FOR UPDATE""",
            cccd_hash,
        )
        if row is None:
            beneficiary_id = await conn.fetchval(
                """INSERT INTO disb_beneficiaries (national_id_enc, national_id_hash, national_id_masked,
                       full_name_enc, full_name_masked, birth_date)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
                encrypt_pii(keys, new.national_id, context=NATIONAL_ID_CONTEXT),
                cccd_hash,
                mask_citizen_id(new.national_id),
                encrypt_pii(keys, new.full_name, context=NAME_CONTEXT),
                mask_name(new.full_name),
                new.birth_date,
            )
            account_id = await _insert_account(conn, keys, beneficiary_id, new.bank_bin, new.account_number)
            outcome = "created"
        else:
            beneficiary_id = row["id"]
            same_person = row["birth_date"] == new.birth_date and normalise_name(
                decrypt_name(keys, row["full_name_enc"])
            ) == normalise_name(new.full_name)
            if not same_person:
                raise BeneficiaryConflict(
                    "this CCCD is registered with another name or birth date",
                    field="national_id",
                    message="disb.ben.exists",
                )
            active = await conn.fetchrow(
                "SELECT id, bank_bin, account_hash FROM disb_accounts WHERE beneficiary_id = $1 AND active",
                beneficiary_id,
            )
            same_account = (
                active is not None
                and active["bank_bin"] == new.bank_bin
                and active["account_hash"] == account_hash(keys, new.account_number)
            )
            if not same_account:
                raise BeneficiaryConflict(
                    "this CCCD is registered with another account; change it through "
                    f"/api/v1/disbursements/beneficiaries/{beneficiary_id}/account",
                    field="account_number",
                )
            account_id = active["id"]
            outcome = "enrolled"
        enrolled: list[str] = []
        for code, amount in new.amounts.items():
            if idempotent and outcome != "created":
                current = await conn.fetchval(
                    "SELECT monthly_amount FROM disb_enrolments WHERE programme = $1 AND beneficiary_id = $2",
                    code,
                    beneficiary_id,
                )
                if current == amount:
                    continue
                if current is not None:
                    raise BeneficiaryConflict(
                        f"already enrolled in {code} with another monthly amount",
                        field=f"monthly_amounts.{code}",
                    )
            await conn.execute(
                "INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount) VALUES ($1, $2, $3)",
                code,
                beneficiary_id,
                amount,
            )
            enrolled.append(code)
        if not enrolled and outcome != "created":
            return EnrolResult(beneficiary_id, "unchanged")
        await record_audit(
            conn,
            actor=actor,
            action="disbursements.beneficiary.created" if outcome == "created" else "disbursements.enrolled",
            subject=f"disb_beneficiary:{beneficiary_id}",
            after={
                "national_id": mask_citizen_id(new.national_id),
                "full_name": mask_name(new.full_name),
                "account_id": account_id,
                "account": mask_account(new.account_number),
                "bank_bin": new.bank_bin,
                "enrolments": {code: new.amounts[code] for code in enrolled},
            },
        )
    return EnrolResult(beneficiary_id, outcome, enrolled)


async def change_account(
    conn: asyncpg.Connection,
    keys: AppKeys,
    beneficiary_id: int,
    *,
    bank_bin: str,
    account_number: str,
    actor: str,
) -> tuple[int, bool]:
    """A new active account for the beneficiary, in state unverified (the old one kept, inactive). The same
    account as the active one changes nothing. Returns (account id, changed)."""
    async with own_or_joined_transaction(conn):
        found = await conn.fetchval(
            "SELECT id FROM disb_beneficiaries WHERE id = $1 FOR UPDATE", beneficiary_id
        )
        if found is None:
            raise NotFound(f"no beneficiary {beneficiary_id}", field="id")
        active = await conn.fetchrow(
            """SELECT id, bank_bin, account_hash, account_masked, state FROM disb_accounts
                WHERE beneficiary_id = $1 AND active""",
            beneficiary_id,
        )
        digest = account_hash(keys, account_number)
        if active is not None and active["bank_bin"] == bank_bin and active["account_hash"] == digest:
            return active["id"], False
        if active is not None:
            await conn.execute("UPDATE disb_accounts SET active = false WHERE id = $1", active["id"])
        account_id = await _insert_account(conn, keys, beneficiary_id, bank_bin, account_number)
        await conn.execute("UPDATE disb_beneficiaries SET updated_at = now() WHERE id = $1", beneficiary_id)
        await record_audit(
            conn,
            actor=actor,
            action="disbursements.account.changed",
            subject=f"disb_beneficiary:{beneficiary_id}",
            before=None
            if active is None
            else {
                "account_id": active["id"],
                "bank_bin": active["bank_bin"],
                "account": active["account_masked"],
                "state": active["state"],
            },
            after={
                "account_id": account_id,
                "bank_bin": bank_bin,
                "account": mask_account(account_number),
                "state": "unverified",
            },
        )
    return account_id, True


# Reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BeneficiaryRow:
    id: int
    national_id_masked: str
    full_name_masked: str
    birth_date: date
    bank_bin: str | None
    account_masked: str | None
    account_state: str | None
    review: str | None
    verified_until: datetime | None
    payments_stopped_reason: str | None
    programmes: list[str]
    hold_reasons: list[str]
    created_at: datetime


def search_hashes(keys: AppKeys, q: str) -> tuple[bytes | None, bytes | None]:
    """(CCCD hash, account hash) a search text may stand for: 12 digits may be either; 6–19 digits an
    account. Anything else finds nothing (names are encrypted: searched by CCCD or account only)."""
    digits = clean_account_number(q)
    if not digits.isascii() or not digits.isdigit():
        return None, None
    by_cccd = national_id_hash(keys, digits) if len(digits) == 12 else None
    by_account = account_hash(keys, digits) if 6 <= len(digits) <= 19 else None
    return by_cccd, by_account


# Each beneficiary's enrolments by a lateral lookup (the enrolments' beneficiary index), not a grouped CTE:
# with `count(*) OVER ()` every row is read whatever the LIMIT, but for a small LIMIT the planner chose a
# nested loop over the CTE, re-reading it per beneficiary (160 s for per_page=1 at 60,000 beneficiaries).
_LIST_SQL = """
SELECT b.id, b.national_id_masked, b.full_name_masked, b.birth_date, b.payments_stopped_reason, b.created_at,
       a.bank_bin, a.account_masked, a.state AS account_state, a.review, a.verified_until,
       coalesce(h.programmes, '{}') AS programmes, coalesce(h.hold_reasons, '{}') AS hold_reasons,
       count(*) OVER () AS total
  FROM disb_beneficiaries b
  LEFT JOIN disb_accounts a ON a.beneficiary_id = b.id AND a.active
  CROSS JOIN LATERAL (
      SELECT array_agg(DISTINCT r.programme ORDER BY r.programme) AS programmes,
             array_remove(array_agg(DISTINCT r.hold_reason ORDER BY r.hold_reason), NULL) AS hold_reasons
        FROM disb_roster r WHERE r.beneficiary_id = b.id) h
 WHERE ($1::bytea IS NULL AND $2::bytea IS NULL
        OR b.national_id_hash = $1
        OR b.id IN (SELECT beneficiary_id FROM disb_accounts WHERE account_hash = $2))
   AND ($3::text IS NULL OR $3 = ANY(coalesce(h.hold_reasons, '{}'))
        OR ($3 = 'verified' AND a.state = 'verified' AND cardinality(coalesce(h.hold_reasons, '{}')) = 0)
        OR ($3 = 'payable' AND cardinality(coalesce(h.hold_reasons, '{}')) = 0 AND h.programmes IS NOT NULL))
   AND ($4::text IS NULL OR $4 = ANY(coalesce(h.programmes, '{}')))
 ORDER BY b.id DESC
 LIMIT $5 OFFSET $6
"""


async def list_beneficiaries(
    conn: asyncpg.Connection,
    keys: AppKeys,
    *,
    q: str | None = None,
    state: str | None = None,
    programme: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[BeneficiaryRow], int]:
    """Newest first, masked; `q` a CCCD or account number (exact, through the keyed hash); `state` a hold
    reason (unverified, mismatch, expired, stopped_ac04, …), `verified` or `payable`. Returns (rows,
    total)."""
    by_cccd, by_account = search_hashes(keys, q) if q else (None, None)
    if q and by_cccd is None and by_account is None:
        return [], 0
    rows = await conn.fetch(_LIST_SQL, by_cccd, by_account, state, programme, limit, offset)
    total = rows[0]["total"] if rows else 0
    return [BeneficiaryRow(**{k: r[k] for k in BeneficiaryRow.__dataclass_fields__}) for r in rows], total


async def beneficiary_detail(conn: asyncpg.Connection, beneficiary_id: int) -> dict[str, Any]:
    """One beneficiary, masked: enrolments (with the roster's hold reason), every account (newest first)
    with its verification history, and any pending review."""
    b = await conn.fetchrow(
        """SELECT id, national_id_masked, full_name_masked, birth_date, payments_stopped_reason,
                  payments_stopped_at, created_at, updated_at
             FROM disb_beneficiaries WHERE id = $1""",
        beneficiary_id,
    )
    if b is None:
        raise NotFound(f"no beneficiary {beneficiary_id}", field="id")
    enrolments = await conn.fetch(
        """SELECT e.programme, e.monthly_amount, e.active, r.hold_reason
             FROM disb_enrolments e
             LEFT JOIN disb_roster r ON r.programme = e.programme AND r.beneficiary_id = e.beneficiary_id
            WHERE e.beneficiary_id = $1 ORDER BY e.programme""",
        beneficiary_id,
    )
    accounts = await conn.fetch(
        """SELECT id, bank_bin, account_masked, active, state, bank_answer, id_match, checked_at,
                  verified_until, review, reviewed_by, reviewed_at, created_at
             FROM disb_accounts WHERE beneficiary_id = $1 ORDER BY id DESC""",
        beneficiary_id,
    )
    checks = await conn.fetch(
        """SELECT c.account_id, c.state, c.bank_answer, c.id_match, c.checked_by, c.checked_at
             FROM disb_account_checks c JOIN disb_accounts a ON a.id = c.account_id
            WHERE a.beneficiary_id = $1 ORDER BY c.id DESC LIMIT 200""",
        beneficiary_id,
    )
    by_account: dict[int, list[dict[str, Any]]] = {}
    for c in checks:
        entry = dict(c)
        by_account.setdefault(entry.pop("account_id"), []).append(entry)
    return {
        **dict(b),
        "enrolments": [dict(e) for e in enrolments],
        "accounts": [{**dict(a), "checks": by_account.get(a["id"], [])} for a in accounts],
    }


async def beneficiary_exists(conn: asyncpg.Connection, beneficiary_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM disb_beneficiaries WHERE id = $1", beneficiary_id))
