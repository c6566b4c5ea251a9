// The pay page's live status, countdown and copy buttons (payments/templates/pay.html); data in #pay-data.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pay-data").textContent);
  var texts = JSON.parse(document.getElementById("pay-texts").textContent);
  var first = data.state;
  var TERMINAL = ["paid", "expired", "cancelled"];
  function $(id) { return document.getElementById(id); }
  function vnd(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " \u20ab"; }

  function show(ev) {
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
    $("received").textContent = vnd(ev.amount_received);
    $("remaining").textContent = vnd(ev.amount_remaining);
    $("transfer-amount").textContent = vnd(ev.amount_remaining);
    if (partial && ev.amount_received !== first.amount_received) {
      // The QR on screen carries the old amount: hide it and offer one for the rest.
      var box = $("qr-box");
      if (box) { box.hidden = true; }
      $("partial-reload").hidden = false;
    }
    if (ev.status === "paid") { $("amount-label").textContent = texts.amount_paid; }
    if (ev.status === "paid" && ev.receipt_url) {
      var link = $("receipt-link");
      link.href = ev.receipt_url;
      link.hidden = false;
    }
  }

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

  if (TERMINAL.indexOf(first.status) < 0 && window.EventSource) {
    var source = new EventSource(data.events);
    source.addEventListener("status", function (e) {
      var ev = JSON.parse(e.data);
      show(ev);
      // The server ends the stream after a final state; without close() the browser would reconnect.
      if (TERMINAL.indexOf(ev.status) >= 0) { source.close(); }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.addEventListener("click", function () {
      var text = button.dataset.copy;
      var done = function () {
        button.textContent = texts.copied;
        setTimeout(function () { button.textContent = texts.copy; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.style.position = "fixed";
        area.style.opacity = "0";
        document.body.appendChild(area);
        area.select();
        try { document.execCommand("copy"); done(); } catch (err) { /* the text stays selectable */ }
        document.body.removeChild(area);
      }
    });
  });
})();
