"""camt.053 and camt.054 share their message walk and period rule (reconciliation.parsers.camt): the refusals
still name the message, its block and what the period could have come from."""

from __future__ import annotations

import pytest

from reconciliation.parsers.camt053 import parse_camt053
from reconciliation.parsers.camt054 import parse_camt054
from reconciliation.statement import StatementRefused

NS = "urn:iso:std:iso:20022:tech:xsd:{}.001.08"


def doc(kind: str, body: str) -> bytes:
    return f'<Document xmlns="{NS.format(kind)}">{body}</Document>'.encode()


ACCT = "<Acct><Id><Othr><Id>0011001234567</Id></Othr></Id><Ccy>VND</Ccy></Acct>"


@pytest.mark.parametrize(
    "parse, data, says",
    [
        (parse_camt053, doc("camt.054", "<BkToCstmrDbtCdtNtfctn/>"), "not a camt.053 document"),
        (parse_camt054, doc("camt.053", "<BkToCstmrStmt/>"), "not a camt.054 document"),
        (parse_camt053, doc("camt.053", "<Other/>"), "camt.053 without <BkToCstmrStmt>"),
        (parse_camt054, doc("camt.054", "<Other/>"), "camt.054 without <BkToCstmrDbtCdtNtfctn>"),
        (parse_camt053, doc("camt.053", "<BkToCstmrStmt/>"), "camt.053 without any <Stmt>"),
        (parse_camt054, doc("camt.054", "<BkToCstmrDbtCdtNtfctn/>"), "camt.054 without any <Ntfctn>"),
        (
            parse_camt053,
            doc("camt.053", f"<BkToCstmrStmt><Stmt><Id>S1</Id>{ACCT}</Stmt></BkToCstmrStmt>"),
            "no period: no FrToDt, closing balance, entry or CreDtTm",
        ),
        (
            parse_camt054,
            doc(
                "camt.054",
                f"<BkToCstmrDbtCdtNtfctn><Ntfctn><Id>N1</Id>{ACCT}</Ntfctn></BkToCstmrDbtCdtNtfctn>",
            ),
            "no period: no FrToDt, entry or CreDtTm",
        ),
    ],
)
def test_refusals_name_the_message_and_block(parse, data, says):
    with pytest.raises(StatementRefused) as refused:
        parse(data)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    "parse, kind, msg, block",
    [
        (parse_camt053, "camt.053", "BkToCstmrStmt", "Stmt"),
        (parse_camt054, "camt.054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    ],
)
def test_without_entries_the_period_is_the_creation_day_in_hanoi(parse, kind, msg, block):
    body = f"<{msg}><{block}><Id>B1</Id><CreDtTm>2026-03-02T18:30:00Z</CreDtTm>{ACCT}</{block}></{msg}>"
    [statement] = parse(doc(kind, body))
    assert statement.from_date.isoformat() == statement.to_date.isoformat() == "2026-03-03"
    assert statement.format == f"{kind}.001.08" and statement.lines == []
