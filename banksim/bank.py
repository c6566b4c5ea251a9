"""The simulated bank's books: accounts, transfers booked as balanced postings, QR payments (with the callback
queued in the same transaction), name inquiry, payouts by idempotency key, and the standing fault mode.

Every business action is one transaction; network calls to citypay happen later, from the outbox
(banksim/deliveries.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from banksim.config import BankSimConfig
from banksim.deliveries import queue_delivery
from banksim.protocol import callback_body
from banksim.qr import ScannedQR
from core.demo_bank_key import DEMO_CITY_OPENING_BALANCE
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import LOCAL_TZ
from core.pii import mask_account

MAX_AMOUNT = 9_999_999_999_999
PAYMENT_FAULTS = ("duplicate", "delay", "drop", "bad_signature", "wrong_amount")
PAYOUT_FAULTS = ("payout_timeout",)
FAULTS = PAYMENT_FAULTS + PAYOUT_FAULTS
WRONG_AMOUNT_SHORTFALL = 50_000
DUPLICATE_WINDOW = "24 hours"

# ISO 20022 reason codes (ExternalStatusReason1Code) the simulator answers with.
AC01, AC04, AC06, AG01, AM04, AM05, BE01, MD07 = (
    "AC01",
    "AC04",
    "AC06",
    "AG01",
    "AM04",
    "AM05",
    "BE01",
    "MD07",
)
REASON_TEXT = {
    AC01: "incorrect account number (unknown account)",
    AC04: "closed account number",
    AC06: "blocked account",
    AG01: "transaction forbidden on this account",
    AM04: "insufficient funds",
    AM05: "duplication: the same payment was booked in the last 24 hours under another key",
    BE01: "beneficiary name inconsistent with the account holder",
    MD07: "end customer deceased",
}
STATUS_REASON = {"closed": AC04, "blocked": AC06, "deceased": MD07}

# (bin or None for the simulator's own BIN, account, holder, kind, status, opening balance in đồng)
CITIZEN_ACCOUNTS: list[tuple[str | None, str, str, str, int]] = [
    (None, "0011000456789", "NGUYEN VAN AN", "open", 50_000_000),
    (None, "0011000567890", "TRAN THI BICH NGOC", "open", 20_000_000),
    (None, "0011000678901", "LE DUC THANG", "open", 8_000_000),
    (None, "0011000789012", "PHAM THI HUONG", "open", 15_000_000),
    (None, "0011000890123", "HOANG MINH DUC", "closed", 0),
    (None, "0011000901234", "VU QUANG HUY", "blocked", 3_000_000),
    # Accounts at other banks, which the simulator plays as the NAPAS network for name inquiry and payouts.
    ("970415", "101876543210", "DO THI MAI", "open", 6_000_000),
    ("970418", "21510001234567", "BUI VAN HUNG", "open", 4_000_000),
    ("970422", "0987654321", "NGO THI LAN", "open", 2_500_000),
    ("970405", "1500205123456", "DANG VAN BINH", "deceased", 1_200_000),
    # Disbursements' demo (disbursements/demo_beneficiaries.csv): pensioners' accounts.
    (None, "0011000345678", "TRINH VAN LONG", "open", 1_000_000),
    ("970415", "101800246810", "MAI THI XUAN", "open", 900_000),
    ("970422", "0987650001", "PHAN VAN TOAN", "closed", 0),
    ("970415", "101800135790", "LY THI HANH", "deceased", 700_000),
]
# Accounts at other banks whose closing or holder's death the network's name directory does not show yet:
# a name inquiry answers them as open (the name), the holder's bank refuses the payout (AC04 / MD07) — how a
# verified beneficiary's payout is refused in the disbursements demo.
NETWORK_STALE: frozenset[tuple[str, str]] = frozenset({("970422", "0987650001"), ("970415", "101800135790")})
# The holder's CCCD where the bank can confirm it (name inquiry with `national_id` answers id_match, never the
# id): (bin or None, account) → CCCD.
CITIZEN_NATIONAL_IDS: dict[tuple[str | None, str], str] = {
    (None, "0011000456789"): "001055001234",  # NGUYEN VAN AN, born 1955
    (None, "0011000789012"): "036160004455",  # PHAM THI HUONG, born 1960
    ("970418", "21510001234567"): "040062001357",  # BUI VAN HUNG, born 1962
    (None, "0011000345678"): "034052007788",  # TRINH VAN LONG, born 1952
}
CITY_OPENING_BALANCE = DEMO_CITY_OPENING_BALANCE
DEFAULT_PAYER = "0011000456789"


class TransferRefused(ValidationFailed):
    """The bank refuses a transfer for a business reason, named by an ISO reason code."""

    slug = "transfer-refused"
    title_vi, title_en = "Ngân hàng từ chối giao dịch", "The bank refused the transfer"

    def __init__(self, reason_code: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(detail or REASON_TEXT[reason_code], field=field, reason_code=reason_code)
        self.reason_code = reason_code


class InvalidQRPayload(ValidationFailed):
    slug = "invalid-qr"
    title_vi, title_en = "Mã QR không hợp lệ", "Invalid QR code"


class AccountNotFound(NotFound):
    slug = "account-not-found"
    title_vi, title_en = "Không tìm thấy tài khoản", "Account not found"


# Names and masks ------------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """As banks hold names: no diacritics, Đ→D, upper case, single spaces."""
    text = name.replace("Đ", "D").replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(text.upper().split())


def names_match(a: str, b: str) -> bool:
    """Word order tolerant (NGUYEN VAN AN = AN NGUYEN VAN), as interbank name checks are."""
    return sorted(normalise_name(a).split()) == sorted(normalise_name(b).split())


def booked_at_text(moment: datetime) -> str:
    """RFC 3339 in Hà Nội time with seconds, as the callback carries it: 2026-01-05T09:30:05+07:00."""
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


# Seeding --------------------------------------------------------------------------------------------------


async def seed_bank(conn: asyncpg.Connection, config: BankSimConfig) -> None:
    """Idempotent: the installation tag, the city's collection account and the citizens' accounts."""
    tag = "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ0123456789") for _ in range(2))
    await conn.execute(
        "INSERT INTO sim_installation (tag) VALUES ($1) ON CONFLICT (singleton) DO NOTHING", tag
    )
    rows = [(config.bin, config.city_account, config.city_account_name, "city", "open", CITY_OPENING_BALANCE)]
    rows += [
        (b or config.bin, number, name, "citizen", status, bal)
        for b, number, name, status, bal in CITIZEN_ACCOUNTS
    ]
    await conn.executemany(
        """INSERT INTO accounts (bin, account_number, holder_name, kind, status, initial_balance, balance)
           VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (bin, account_number) DO NOTHING""",
        rows,
    )
    await conn.executemany(
        """UPDATE accounts SET holder_national_id = $3
            WHERE bin = $1 AND account_number = $2 AND holder_national_id IS NULL""",
        [(b or config.bin, number, cccd) for (b, number), cccd in CITIZEN_NATIONAL_IDS.items()],
    )


async def installation_tag(conn: asyncpg.Connection) -> str:
    return await conn.fetchval("SELECT tag FROM sim_installation")


async def new_bank_txn_id(conn: asyncpg.Connection, booked_at: datetime) -> str:
    """FT + yy + day of year + installation tag + counter, e.g. FT26005K7000123 (like FT26005A1B2C3)."""
    local = booked_at.astimezone(LOCAL_TZ)
    seq = await conn.fetchval("SELECT nextval('bank_txn_seq')")
    return f"FT{local:%y}{local.timetuple().tm_yday:03d}{await installation_tag(conn)}{seq:06d}"


# Accounts -------------------------------------------------------------------------------------------------


async def list_accounts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT bin, account_number, holder_name, kind, status, balance FROM accounts ORDER BY kind, bin, id"
    )


async def account_by_number(conn: asyncpg.Connection, bin_: str, number: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE bin = $1 AND account_number = $2", bin_, number)


async def account_name(
    conn: asyncpg.Connection, bin_: str, number: str, national_id: str | None = None
) -> dict[str, Any]:
    """Name inquiry: open → name; closed/blocked/deceased → the status and reason code, no name (except the
    network's stale entries, NETWORK_STALE, answered as open). Asked with
    `national_id`, the answer adds `id_match`: whether the bank's holder has that CCCD (null: the bank holds
    none); the bank's own copy is never answered."""
    account = await account_by_number(conn, bin_, number)
    if account is None:
        raise AccountNotFound(f"no account {number} at bank {bin_}", field="account", reason_code=AC01)
    if account["status"] == "open" or (bin_, number) in NETWORK_STALE:
        answer = {
            "bin": bin_,
            "account": number,
            "name": account["holder_name"],
            "status": "open",
            "reason_code": None,
        }
    else:
        answer = {
            "bin": bin_,
            "account": number,
            "name": None,
            "status": account["status"],
            "reason_code": STATUS_REASON[account["status"]],
        }
    if national_id is not None:
        held = account["holder_national_id"]
        answer["id_match"] = None if held is None else hmac.compare_digest(held, national_id)
    return answer


def _refuse_unless_open(account: asyncpg.Record | None, field: str) -> asyncpg.Record:
    if account is None:
        raise TransferRefused(AC01, field=field)
    if account["status"] != "open":
        raise TransferRefused(STATUS_REASON[account["status"]], field=field)
    return account


async def _lock_accounts(conn: asyncpg.Connection, *ids: int) -> dict[int, asyncpg.Record]:
    """Lock in id order, so two transfers between the same accounts never deadlock."""
    rows = await conn.fetch(
        "SELECT * FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", list(ids)
    )
    return {r["id"]: r for r in rows}


async def _book_transfer(
    conn: asyncpg.Connection,
    *,
    kind: str,
    debit: asyncpg.Record,
    credit: asyncpg.Record,
    amount: int,
    narrative: str,
    end_to_end_id: str | None,
    qr_payload: str | None = None,
    qr_amount: int | None = None,
    fault: str | None = None,
) -> asyncpg.Record:
    """Debit one account and credit another by `amount`, both legs in this transaction."""
    locked = await _lock_accounts(conn, debit["id"], credit["id"])
    if locked[debit["id"]]["balance"] < amount:
        raise TransferRefused(AM04, field="amount")
    booked_at = await conn.fetchval("SELECT now()")
    bank_txn_id = await new_bank_txn_id(conn, booked_at)
    transfer = await conn.fetchrow(
        """INSERT INTO transfers (bank_txn_id, kind, debit_account_id, credit_account_id, amount, narrative,
               end_to_end_id, booked_at, qr_payload, qr_amount, fault)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *""",
        bank_txn_id,
        kind,
        debit["id"],
        credit["id"],
        amount,
        narrative[:500],
        end_to_end_id,
        booked_at,
        qr_payload,
        qr_amount,
        fault,
    )
    await conn.executemany(
        "INSERT INTO postings (transfer_id, account_id, amount, booked_at) VALUES ($1, $2, $3, $4)",
        [
            (transfer["id"], debit["id"], -amount, booked_at),
            (transfer["id"], credit["id"], amount, booked_at),
        ],
    )
    await conn.executemany(
        "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
        [(debit["id"], -amount), (credit["id"], amount)],
    )
    return transfer


# Faults ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str | None
    delay_seconds: int = 0


async def fault_mode(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow("SELECT fault, delay_seconds, remaining, updated_at FROM fault_mode")


async def set_fault_mode(
    conn: asyncpg.Connection, fault: str | None, *, delay_seconds: int = 10, remaining: int | None = None
) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE fault_mode SET fault = $1, delay_seconds = $2, remaining = $3, updated_at = now()
           RETURNING fault, delay_seconds, remaining, updated_at""",
        fault,
        delay_seconds,
        remaining if fault else None,
    )


async def take_fault(
    conn: asyncpg.Connection, requested: str | None, requested_delay: int | None, applicable: tuple[str, ...]
) -> Fault:
    """The fault for this operation: the one asked for on the call, else the standing mode if it fits (one
    use of it is consumed). Runs inside the caller's transaction."""
    if requested is not None:
        return Fault(requested, requested_delay if requested_delay is not None else 10)
    mode = await conn.fetchrow("SELECT fault, delay_seconds, remaining FROM fault_mode FOR UPDATE")
    if mode["fault"] not in applicable:
        return Fault(None)
    if mode["remaining"] == 1:
        await conn.execute("UPDATE fault_mode SET fault = NULL, remaining = NULL, updated_at = now()")
    elif mode["remaining"] is not None:
        await conn.execute("UPDATE fault_mode SET remaining = remaining - 1, updated_at = now()")
    return Fault(mode["fault"], mode["delay_seconds"])


def short_amount(amount: int) -> int:
    """What a payer who pays the wrong amount sends: 50,000 ₫ short, or half of a smaller amount."""
    if amount > WRONG_AMOUNT_SHORTFALL:
        return amount - WRONG_AMOUNT_SHORTFALL
    return amount // 2 if amount >= 2 else amount + 1


# QR payments ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    transfer: asyncpg.Record
    payer: asyncpg.Record
    beneficiary: asyncpg.Record
    fault: Fault
    delivery_ids: list[int]


def payment_narrative(purpose: str | None, payer_name: str) -> str:
    """How a Vietnamese bank app words a QR transfer: '<purpose> NGUYEN VAN AN chuyen tien'."""
    words = " ".join((purpose or "").split())
    return f"{words} {payer_name} chuyen tien".strip()


async def pay_qr(
    pool: asyncpg.Pool,
    config: BankSimConfig,
    qr: ScannedQR,
    *,
    payer_account: str | None,
    typed_amount: int | None = None,
    fault: str | None = None,
    delay_seconds: int | None = None,
) -> Payment:
    """Book a QR transfer from one of our customers; when it credits a city account, queue its callback(s)."""
    if qr.amount is not None and typed_amount is not None and typed_amount != qr.amount:
        raise ValidationFailed("this QR fixes the amount; do not send another", field="amount")
    amount = qr.amount if qr.amount is not None else typed_amount
    if amount is None:
        raise ValidationFailed("this QR has no amount: send the amount the payer types", field="amount")
    async with pool.acquire() as conn, conn.transaction():
        payer = await account_by_number(conn, config.bin, payer_account or DEFAULT_PAYER)
        if payer is None:
            raise AccountNotFound(f"no account {payer_account} at this bank", field="payer_account")
        _refuse_unless_open(payer, "payer_account")
        beneficiary = _refuse_unless_open(await account_by_number(conn, qr.bin, qr.account), "payload")
        if beneficiary["id"] == payer["id"]:
            raise TransferRefused(
                AG01, field="payer_account", detail="payer and beneficiary are the same account"
            )
        chosen = await take_fault(conn, fault, delay_seconds, PAYMENT_FAULTS)
        paid = short_amount(amount) if chosen.name == "wrong_amount" else amount
        transfer = await _book_transfer(
            conn,
            kind="qr_payment",
            debit=payer,
            credit=beneficiary,
            amount=paid,
            narrative=payment_narrative(qr.purpose, payer["holder_name"]),
            end_to_end_id=qr.purpose,
            qr_payload=qr.payload,
            qr_amount=qr.amount,
            fault=chosen.name,
        )
        delivery_ids: list[int] = []
        if beneficiary["kind"] == "city":
            delivery_ids = await _queue_callback(conn, config, transfer, beneficiary, payer, chosen)
    return Payment(transfer, payer, beneficiary, chosen, delivery_ids)


async def _queue_callback(
    conn: asyncpg.Connection,
    config: BankSimConfig,
    transfer: asyncpg.Record,
    credited: asyncpg.Record,
    payer: asyncpg.Record,
    fault: Fault,
) -> list[int]:
    body = callback_body(
        bank_txn_id=transfer["bank_txn_id"],
        credited_bin=credited["bin"],
        credited_account=credited["account_number"],
        amount=transfer["amount"],
        booked_at=booked_at_text(transfer["booked_at"]),
        narrative=transfer["narrative"],
        payer_name=payer["holder_name"],
        payer_account_masked=mask_account(payer["account_number"]),
    )
    copies = 2 if fault.name == "duplicate" else 1
    held = fault.name == "drop"
    delay = fault.delay_seconds if fault.name == "delay" else 0
    ids = []
    for _ in range(copies):
        delivery_id = await conn.fetchval(
            """INSERT INTO deliveries (transfer_id, bank_txn_id, url, body, state, fault, next_attempt_at)
               VALUES ($1, $2, $3, $4, $5, $6,
                       CASE WHEN $5 = 'pending' THEN now() + make_interval(secs => $7) END)
               RETURNING id""",
            transfer["id"],
            transfer["bank_txn_id"],
            config.callback_url,
            body,
            "held" if held else "pending",
            "bad_signature" if fault.name == "bad_signature" else None,
            float(delay),
        )
        if not held:
            await queue_delivery(conn, delivery_id, delay_s=delay)
        ids.append(delivery_id)
    return ids


async def transfer_by_txn_id(conn: asyncpg.Connection, bank_txn_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT t.*, d.bin AS debit_bin, d.account_number AS debit_account, d.holder_name AS debit_name,
                  c.bin AS credit_bin, c.account_number AS credit_account, c.holder_name AS credit_name
             FROM transfers t
             JOIN accounts d ON d.id = t.debit_account_id
             JOIN accounts c ON c.id = t.credit_account_id
            WHERE t.bank_txn_id = $1""",
        bank_txn_id,
    )


# Payouts --------------------------------------------------------------------------------------------------


def payout_fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class PayoutOutcome:
    record: dict[str, Any]
    replayed: bool
    timeout: bool  # the payout_timeout fault: booked, but the caller is told nothing (504)


async def make_payout(
    pool: asyncpg.Pool,
    config: BankSimConfig,
    *,
    key: str,
    body: dict[str, Any],
    fault: str | None = None,
) -> PayoutOutcome:
    """Pay out from the city's account once per idempotency key; a rejection is remembered like a booking."""
    fingerprint = payout_fingerprint(body)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        existing = await conn.fetchrow("SELECT request_hash FROM payouts WHERE idempotency_key = $1", key)
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise Conflict(
                    f"Idempotency-Key {key!r} was already used for a different payout",
                    field="Idempotency-Key",
                )
            return PayoutOutcome(_recorded(await payout_record(conn, key)), replayed=True, timeout=False)
        chosen = await take_fault(conn, fault, None, PAYOUT_FAULTS)
        source = await account_by_number(conn, config.bin, config.city_account)
        assert source is not None  # the city's own account is created with the simulator's database
        reason, transfer_id = await _try_payout(conn, config, source, key, body)
        await conn.execute(
            """INSERT INTO payouts (idempotency_key, request_hash, from_account_id, to_bin, to_account,
                   amount, narrative, beneficiary_name, status, reason_code, transfer_id, fault)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            key,
            fingerprint,
            source["id"],
            body["to_bin"],
            body["to_account"],
            body["amount"],
            body["narrative"],
            body.get("beneficiary_name"),
            "rejected" if reason else "booked",
            reason,
            transfer_id,
            chosen.name,
        )
        record = _recorded(await payout_record(conn, key))
    return PayoutOutcome(record, replayed=False, timeout=chosen.name == "payout_timeout")


async def _try_payout(
    conn: asyncpg.Connection, config: BankSimConfig, source: asyncpg.Record, key: str, body: dict[str, Any]
) -> tuple[str | None, int | None]:
    target = await account_by_number(conn, body["to_bin"], body["to_account"])
    if target is None:
        return AC01, None
    if target["status"] != "open":
        return STATUS_REASON[target["status"]], None
    if target["id"] == source["id"]:
        return AG01, None
    wanted = body.get("beneficiary_name")
    if wanted and not names_match(wanted, target["holder_name"]):
        return BE01, None
    duplicate = await conn.fetchval(
        f"""SELECT 1 FROM payouts p JOIN transfers t ON t.id = p.transfer_id
             WHERE p.status = 'booked' AND p.to_bin = $1 AND p.to_account = $2 AND p.amount = $3
               AND p.narrative = $4 AND p.idempotency_key <> $5
               AND p.created_at > now() - interval '{DUPLICATE_WINDOW}'""",
        body["to_bin"],
        body["to_account"],
        body["amount"],
        body["narrative"],
        key,
    )
    if duplicate:
        return AM05, None
    try:
        async with conn.transaction():  # a savepoint: an AM04 refusal keeps the payout row
            transfer = await _book_transfer(
                conn,
                kind="payout",
                debit=source,
                credit=target,
                amount=body["amount"],
                narrative=body["narrative"],
                end_to_end_id=key[:35],
            )
    except TransferRefused as refused:
        return refused.reason_code, None
    return None, transfer["id"]


def _recorded(payout: dict[str, Any] | None) -> dict[str, Any]:
    """A payout this transaction has just found or written; it cannot be missing."""
    assert payout is not None
    return payout


async def payout_record(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT p.*, t.bank_txn_id, t.booked_at, a.holder_name AS credited_name
             FROM payouts p LEFT JOIN transfers t ON t.id = p.transfer_id
             LEFT JOIN accounts a ON a.id = t.credit_account_id
            WHERE p.idempotency_key = $1""",
        key,
    )
    if row is None:
        return None
    return {
        "idempotency_key": row["idempotency_key"],
        "status": row["status"],
        "reason_code": row["reason_code"],
        "reason": REASON_TEXT.get(row["reason_code"]) if row["reason_code"] else None,
        "bank_txn_id": row["bank_txn_id"],
        "to_bin": row["to_bin"],
        "to_account": row["to_account"],
        "beneficiary_name": row["credited_name"],
        "amount": row["amount"],
        "narrative": row["narrative"],
        "booked_at": booked_at_text(row["booked_at"]) if row["booked_at"] else None,
        "received_at": booked_at_text(row["created_at"]),
    }
