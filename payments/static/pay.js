// The pay page (payments/templates/pay.html): live status (server-sent events, polling while they are down),
// the QR for what is due now (a new one after a partial payment), the banking-app links, copy buttons, the
// countdown and the "bank is still processing" notice. Data in #pay-data, sentences in #pay-texts.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pay-data").textContent);
  var texts = JSON.parse(document.getElementById("pay-texts").textContent);
  var first = data.state;
  var TERMINAL = ["paid", "expired", "cancelled"];
  var current = first;
  var qrAmount = data.qr_amount;  // the amount the QR on screen asks for (null: no QR)
  function $(id) { return document.getElementById(id); }
  function vnd(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " \u20ab"; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function final(status) { return TERMINAL.indexOf(status) >= 0; }

  // A new QR, download and deeplinks for the amount due now (after a partial payment).
  function followRemainder(amount) {
    if (qrAmount === null || amount === qrAmount || amount <= 0) { return; }
    var base = data.remaining_qr_base + amount + "&size=";
    var qr = $("qr");
    if (qr) {
      qr.srcset = base + "576 2x, " + base + "864 3x";
      qr.src = base + "288";
      qr.alt = fill(texts.qr_alt, { amount: vnd(amount) });
    }
    var save = $("save-qr");
    if (save) {
      save.href = base + "1024";
      save.setAttribute("download", data.reference + "-" + amount + ".png");
    }
    Array.prototype.forEach.call(document.querySelectorAll("a.bank-app"), function (link) {
      link.href = link.href.replace(/([?&]am=)\d+/, "$1" + amount);
    });
    $("copy-amount").dataset.copy = String(amount);
    qrAmount = amount;
  }

  function show(ev) {
    current = ev;
    var partial = ev.status === "pending" && ev.amount_received > 0;
    var key = partial ? "partial" : ev.status;
    var status = $("status");
    status.dataset.status = ev.status;
    status.className = "status status-" + key;
    status.textContent = data.labels[key];
    $("pay-now").hidden = ev.status !== "pending";
    $("done").hidden = ev.status !== "paid";
    $("closed").hidden = !(ev.status === "expired" || ev.status === "cancelled");
    $("expired-hint").hidden = ev.status !== "expired";
    $("cancelled-hint").hidden = ev.status !== "cancelled";
    $("progress").hidden = !partial;
    $("partial-hint").hidden = !partial;
    $("received").textContent = vnd(ev.amount_received);
    $("remaining").textContent = vnd(ev.amount_remaining);
    $("transfer-amount").textContent = vnd(ev.amount_remaining);
    var headline = $("partial-headline");
    headline.hidden = !partial;
    if (partial) {
      // What arrived and what is left; the full amount is no longer anything to pay.
      headline.textContent = fill(texts.partial_headline, {
        received: vnd(ev.amount_received), remaining: vnd(ev.amount_remaining)
      });
      $("amount-label").textContent = texts.amount_remaining;
      $("amount").textContent = vnd(ev.amount_remaining);
      followRemainder(ev.amount_remaining);
      // The demo's simulated-bank button carries the full QR: it must not invite paying that again.
      var sim = $("pay-with-simulator");
      if (sim) { sim.parentNode.hidden = true; }
    }
    if (ev.status === "paid") {
      $("amount-label").textContent = texts.amount_paid;
      $("amount").textContent = vnd(ev.amount_due);
    }
    if (ev.status === "paid" && ev.receipt_url) {
      var link = $("receipt-link");
      link.href = ev.receipt_url;
      link.hidden = false;
    }
    if (final(ev.status)) {
      $("slow").hidden = true;
      $("reconnecting").hidden = true;
      stopPolling();
    }
  }

  // Countdown to expiry.
  var countdown = $("countdown");
  if (countdown) {
    var end = Date.now() + Number(countdown.dataset.seconds) * 1000;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var tick = function () {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      countdown.textContent = pad(Math.floor(left / 3600)) + ":" + pad(Math.floor(left / 60) % 60) + ":" + pad(left % 60);
      if (left > 0) { setTimeout(tick, 1000); }
    };
    tick();
  }

  // A slow bank: after waiting a while (since the page opened, or since the person tapped an app — kept in
  // sessionStorage across the trip to the banking app), say so; the QR stays where it is.
  var TAP_KEY = "citypay.pay.tapped." + data.reference;
  var slowTimer = null;
  function armSlow(since) {
    if (slowTimer) { clearTimeout(slowTimer); }
    var wait = Math.max(0, since + data.slow_after_s * 1000 - Date.now());
    slowTimer = setTimeout(function () {
      if (current.status === "pending") { $("slow").hidden = false; }
    }, wait);
  }
  var tapped = null;
  try { tapped = Number(window.sessionStorage.getItem(TAP_KEY)) || null; } catch (err) { tapped = null; }
  armSlow(tapped && Date.now() - tapped < 30 * 60 * 1000 ? tapped : Date.now());
  function noteTap() {
    var now = Date.now();
    try { window.sessionStorage.setItem(TAP_KEY, String(now)); } catch (err) { /* private mode */ }
    armSlow(now);
  }
  Array.prototype.forEach.call(document.querySelectorAll("a.bank-app, #pay-with-simulator"), function (a) {
    a.addEventListener("click", noteTap);
  });

  // Live status: server-sent events; while they are down, say so and ask for the status every few seconds.
  var pollTimer = null;
  function poll() {
    fetch(data.status_url, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (ev) { if (ev) { show(ev); } })
      .catch(function () { /* still offline: the next poll tries again */ });
  }
  function startPolling() {
    if (pollTimer === null) { pollTimer = setInterval(poll, data.poll_every_s * 1000); poll(); }
  }
  function stopPolling() {
    if (pollTimer !== null) { clearInterval(pollTimer); pollTimer = null; }
  }
  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    var source = new EventSource(data.events);
    source.addEventListener("open", function () {
      $("reconnecting").hidden = true;
      stopPolling();
    });
    source.addEventListener("status", function (e) {
      var ev = JSON.parse(e.data);
      show(ev);
      // The server ends the stream after a final state; without close() the browser would reconnect.
      if (final(ev.status)) { source.close(); }
    });
    source.addEventListener("error", function () {
      if (final(current.status)) { source.close(); return; }
      $("reconnecting").hidden = false;
      startPolling();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server answered 503 while restarting): try again ourselves.
        setTimeout(function () { if (!final(current.status)) { connect(); } }, data.poll_every_s * 1000);
      }
    });
  }
  if (!final(first.status)) { connect(); }

  // Copy buttons: the clipboard API, or a hidden text area and execCommand where it is missing.
  var copyStatus = $("copy-status");
  var copyTimer = null;
  function copied(button, ok) {
    copyStatus.textContent = ok ? texts.copied : texts.copy_failed;
    if (ok) { button.textContent = texts.copied; }
    if (copyTimer) { clearTimeout(copyTimer); }
    copyTimer = setTimeout(function () {
      copyStatus.textContent = "";
      Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
        b.textContent = texts.copy;
      });
    }, 2500);
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.addEventListener("click", function () {
      var text = button.dataset.copy;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { copied(button, true); },
          function () { copied(button, fallbackCopy(text)); }
        );
      } else {
        copied(button, fallbackCopy(text));
      }
    });
  });

  // On a phone the banking apps are the quick way; on a desktop (wide, or no touch) the QR stays the main path
  // and the list stays folded.
  var apps = $("bank-apps");
  if (apps) {
    var touch = window.matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
    var narrow = window.matchMedia("(max-width: 767px)").matches;
    apps.open = touch && narrow;
    apps.dataset.layout = touch && narrow ? "phone" : "desktop";
  }
})();
