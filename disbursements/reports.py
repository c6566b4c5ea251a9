"""Disbursement reports per programme and period: what was paid, what failed and why (ISO reason codes), what
was held out and why, what came back, what is still unknown; and coverage — the share of the programme's
enrolled beneficiaries (active enrolments) paid by account in that period, against the city's 100 % goal,
with the gap broken down by reason. Three set-based queries, whatever the number of items."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from core.errors import NotFound

PROGRAMMES = ("pension", "social_insurance", "unemployment", "social_assistance")
PERIOD_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"  # as disb_batches.period (0016)
PERIOD_RE = re.compile(PERIOD_PATTERN)
# The bank's refusal codes execution records (issue 11), and the item states an item passes through.
REASON_CODES = ("AC01", "AC04", "AC06", "BE01", "MD07", "AM05")
IN_PROGRESS_STATES = ("ready", "sending")


@dataclass(frozen=True)
class Bucket:
    """`count` items (or beneficiaries) worth `amount` đồng, for one key (a state, a reason code, …)."""

    key: str
    count: int = 0
    amount: int = 0


@dataclass(frozen=True)
class BatchLine:
    id: int
    state: str
    control_count: int
    control_sum: int
    held_count: int
    created_at: datetime


@dataclass
class DisbursementReport:
    programme: str
    name_vi: str
    name_en: str
    period: str
    batches: list[BatchLine]
    paid: Bucket
    failed: list[Bucket]  # by reason code
    held: list[Bucket]  # by hold reason
    returned: Bucket
    sent_unknown: Bucket
    in_progress: Bucket  # ready or being sent
    cancelled: Bucket
    enrolled: int  # active enrolments of the programme
    covered: int  # of them, paid by account in the period (and not returned)
    gap: list[Bucket] = field(default_factory=list)  # the enrolled not paid, by why (key "held:<reason>", …)

    @property
    def coverage_pct(self) -> float | None:
        """Share of the enrolled paid, in per cent, rounded down to 0.1 (99.96 % is not 100 %)."""
        if not self.enrolled:
            return None
        return int(self.covered * 1000 // self.enrolled) / 10

    @property
    def gap_count(self) -> int:
        return self.enrolled - self.covered

    @property
    def failed_total(self) -> Bucket:
        return _total("failed", self.failed)

    @property
    def held_total(self) -> Bucket:
        return _total("held", self.held)


def _total(key: str, buckets: list[Bucket]) -> Bucket:
    return Bucket(key, sum(b.count for b in buckets), sum(b.amount for b in buckets))


_PROGRAMME_SQL = "SELECT code, name_vi, name_en FROM disb_programmes WHERE code = $1"

_BATCHES_SQL = """
SELECT id, state, control_count, control_sum, held_count, created_at
  FROM disb_batches WHERE programme = $1 AND period = $2 ORDER BY id"""

# Every item of the programme's period, by state and (for failed/held) why: through the batches of the period
# and the (batch_id, state) index, never a scan of all periods' items.
_ITEMS_SQL = """
SELECT state,
       CASE state WHEN 'failed' THEN coalesce(reason_code, '?') WHEN 'held' THEN coalesce(hold_reason, '?')
                  ELSE '' END AS reason,
       count(*)::int AS n, coalesce(sum(amount), 0)::bigint AS amount
  FROM disb_items
 WHERE batch_id IN (SELECT id FROM disb_batches WHERE programme = $1 AND period = $2)
 GROUP BY 1, 2"""

# Each active enrolment with its live item of the period (at most one: disb_items_once), as one outcome. A
# cancelled batch's items are not live: its beneficiaries count as in no batch until one is built again.
_COVERAGE_SQL = """
SELECT CASE WHEN i.state IS NULL THEN 'not_in_batch'
            WHEN i.state = 'failed' THEN 'failed:' || coalesce(i.reason_code, '?')
            WHEN i.state = 'held' THEN 'held:' || coalesce(i.hold_reason, '?')
            WHEN i.state = ANY($3::text[]) THEN 'in_progress'
            ELSE i.state END AS outcome,
       count(*)::int AS n, coalesce(sum(coalesce(i.amount, e.monthly_amount)), 0)::bigint AS amount
  FROM disb_enrolments e
  LEFT JOIN disb_items i
         ON i.beneficiary_id = e.beneficiary_id AND i.state <> 'cancelled'
        AND i.batch_id IN (SELECT id FROM disb_batches
                            WHERE programme = $1 AND period = $2 AND state <> 'cancelled')
 WHERE e.programme = $1 AND e.active
 GROUP BY 1"""

# The order reasons are listed in: the worst first (money that may be out), then what people can fix.
_GAP_ORDER = ("sent_unknown", "returned", "failed", "held", "in_progress", "not_in_batch")


def _gap_rank(key: str) -> tuple[int, str]:
    head = key.split(":", 1)[0]
    return (_GAP_ORDER.index(head) if head in _GAP_ORDER else len(_GAP_ORDER), key)


async def disbursement_report(conn: asyncpg.Connection, programme: str, period: str) -> DisbursementReport:
    """The report of one programme's period (NotFound for an unknown programme). Cancelled batches are listed
    with their items counted as cancelled; coverage counts only live items (one per beneficiary and period,
    disb_items_once)."""
    prog = await conn.fetchrow(_PROGRAMME_SQL, programme)
    if prog is None:
        raise NotFound("no disbursement programme with this code", field="programme")
    batches = [BatchLine(**dict(r)) for r in await conn.fetch(_BATCHES_SQL, programme, period)]
    by_state: dict[str, Bucket] = {}
    failed: list[Bucket] = []
    held: list[Bucket] = []
    for r in await conn.fetch(_ITEMS_SQL, programme, period):
        bucket = Bucket(r["reason"] or r["state"], r["n"], r["amount"])
        if r["state"] == "failed":
            failed.append(bucket)
        elif r["state"] == "held":
            held.append(bucket)
        else:
            prev = by_state.get(r["state"], Bucket(r["state"]))
            by_state[r["state"]] = Bucket(r["state"], prev.count + bucket.count, prev.amount + bucket.amount)
    in_progress = _total("in_progress", [by_state.get(s, Bucket(s)) for s in IN_PROGRESS_STATES])
    coverage = await conn.fetch(_COVERAGE_SQL, programme, period, list(IN_PROGRESS_STATES))
    enrolled = sum(r["n"] for r in coverage)
    covered = sum(r["n"] for r in coverage if r["outcome"] == "paid")
    gap = sorted(
        (Bucket(r["outcome"], r["n"], r["amount"]) for r in coverage if r["outcome"] != "paid"),
        key=lambda b: _gap_rank(b.key),
    )
    return DisbursementReport(
        programme=programme,
        name_vi=prog["name_vi"],
        name_en=prog["name_en"],
        period=period,
        batches=batches,
        paid=by_state.get("paid", Bucket("paid")),
        failed=sorted(failed, key=lambda b: (-b.count, b.key)),
        held=sorted(held, key=lambda b: (-b.count, b.key)),
        returned=by_state.get("returned", Bucket("returned")),
        sent_unknown=by_state.get("sent_unknown", Bucket("sent_unknown")),
        in_progress=in_progress,
        cancelled=by_state.get("cancelled", Bucket("cancelled")),
        enrolled=enrolled,
        covered=covered,
        gap=gap,
    )
