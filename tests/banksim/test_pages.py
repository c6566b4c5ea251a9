"""The simulated banking app: paste or upload a QR, confirm, pay, and go back to citypay."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import qrcode
from aiohttp import FormData

from tests.banksim.conftest import balances, vietqr, wait_for


def qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text).save(out, format="PNG")
    return out.getvalue()


async def test_home_page_is_vietnamese_and_phone_sized(sim):
    resp = await sim.get("/sim")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert 'lang="vi"' in html and "width=device-width" in html
    assert "Dán nội dung mã QR" in html and 'enctype="multipart/form-data"' in html


async def test_pasted_payload_shows_the_beneficiary_before_paying(sim):
    resp = await sim.post("/sim/scan", data={"payload": vietqr(200_000, "CPPASTED00001")})
    assert resp.status == 200
    html = await resp.text()
    assert "KHO BAC NHA NUOC HA NOI" in html and "200.000 ₫" in html and "CPPASTED00001" in html
    assert 'action="/sim/pay"' in html


async def test_an_uploaded_qr_image_is_decoded_on_the_server(sim):
    payload = vietqr(135_000, "CPIMAGE000001")
    form = FormData()
    form.add_field("payload", "")
    form.add_field("image", qr_png(payload), filename="qr.png", content_type="image/png")
    resp = await sim.post("/sim/scan", data=form)
    assert resp.status == 200
    html = await resp.text()
    assert "CPIMAGE000001" in html and "135.000 ₫" in html


async def test_unreadable_uploads_and_payloads_explain_themselves(sim):
    form = FormData()
    form.add_field("image", b"not an image", filename="x.png", content_type="image/png")
    resp = await sim.post("/sim/scan", data=form)
    assert resp.status == 422 and "Không thể thanh toán mã này" in await resp.text()
    resp = await sim.post("/sim/scan", data={"payload": vietqr()[:-4] + "0000"})
    assert resp.status == 422


async def test_pay_link_confirms_pays_and_returns_to_citypay(sim, citypay):
    fake, url = citypay
    payload = vietqr(200_000, "CPLINK0000001")
    back = f"{url}/pay/CPLINK0000001"
    resp = await sim.get(f"/sim/pay?payload={quote(payload)}&return={quote(back)}")
    assert resp.status == 200
    html = await resp.text()
    assert "KHO BAC NHA NUOC HA NOI" in html and f'value="{back}"' in html

    before = await balances(sim)
    resp = await sim.post(
        "/sim/pay", data={"payload": payload, "payer_account": "0011000567890", "return": back, "fault": ""}
    )
    assert resp.status == 200
    html = await resp.text()
    assert "Giao dịch thành công" in html
    assert f'href="{back}"' in html and "Quay lại citypay" in html
    txn = re.search(r'id="bank-txn-id">([^<]+)<', html).group(1)
    assert (await balances(sim))["0011000567890"] == before["0011000567890"] - 200_000

    async def delivered():
        return [r for r in fake.received if txn.encode() in r.body and r.verdict == "accepted"]

    await wait_for(delivered)


async def test_return_links_must_point_at_citypay(sim):
    payload = quote(vietqr())
    for bad in (
        "https://evil.example/pay/X",
        "http://127.0.0.1:1/pay/X",
        "javascript:alert(1)",
        "//evil.example/x",
    ):
        resp = await sim.get(f"/sim/pay?payload={payload}&return={quote(bad)}")
        assert resp.status == 422, bad
    resp = await sim.post("/sim/pay", data={"payload": vietqr(), "return": "https://evil.example/"})
    assert resp.status == 422
    assert (await (await sim.get("/sim/api/deliveries")).json())["deliveries"] == []


async def test_a_refused_payment_stays_on_the_confirmation_with_the_reason(sim):
    before = await balances(sim)
    resp = await sim.post("/sim/pay", data={"payload": vietqr(999_000_000), "payer_account": "0011000678901"})
    assert resp.status == 422
    assert "Ngân hàng từ chối giao dịch: Số dư không đủ" in await resp.text()
    assert await balances(sim) == before


async def test_root_redirects_to_the_app(sim):
    resp = await sim.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/sim"
