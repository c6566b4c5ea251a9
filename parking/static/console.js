// The attendant console (parking/templates/console.html): served from /static so the page's CSP needs no
// 'unsafe-inline'. Everything page-specific comes from the JSON block #console-data.
(function () {
  "use strict";
  const C = JSON.parse(document.getElementById("console-data").textContent);
  const L = C.labels;
  const TERMINAL = ["paid", "expired", "cancelled"];
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  // As core.money.format_vnd: dots between thousands, then " ₫".
  const vnd = (n) => (n < 0 ? "-" : "") + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " \u20ab";

  const hanoiClock = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Ho_Chi_Minh", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  function hanoi(date) {
    const parts = {};
    hanoiClock.formatToParts(date).forEach((p) => { parts[p.type] = p.value; });
    return parts;
  }
  function timeIn(iso) {  // "19/05/2026 14:05": day first, 24-hour, Hà Nội time
    const at = hanoi(new Date(iso));
    return at.day + "/" + at.month + "/" + at.year + " " + at.hour + ":" + at.minute;
  }
  function clockOf(iso) { const at = hanoi(new Date(iso)); return at.hour + ":" + at.minute; }
  // What a person reads of a refusal: the problem's catalogue sentence, never the English `detail`.
  const sentence = (res) => (res.data && (res.data.message || (res.data.errors && res.data.errors[0] && res.data.errors[0].text)
    || res.data.title)) || L.network;
  const store = {
    get(key) { try { return window.localStorage.getItem("citypay.console." + key); } catch (e) { return null; } },
    set(key, value) { try { window.localStorage.setItem("citypay.console." + key, value); } catch (e) { /* private mode */ } },
  };

  async function call(method, path, body) {
    const headers = { "Accept": "application/json", "Accept-Language": C.lang };
    const init = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrf;
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { message: L.network } };
    }
    let data = {};
    try { data = await resp.json(); } catch (err) { data = { message: L.network }; }
    return { ok: resp.ok, status: resp.status, data: data };
  }

  let busy = false;
  async function exclusive(action) {  // one action at a time: a double tap must not check a car in twice
    if (busy) { return; }
    busy = true;
    document.body.classList.add("busy");
    try { await action(); } finally { busy = false; document.body.classList.remove("busy"); }
  }

  function say(kind, title, detail) {
    if (kind === "error" && !$("exit").hidden) {  // the exit screen covers the message line
      $("exit-message").textContent = title + (detail ? " — " + detail : "");
      return;
    }
    const box = $("message");
    box.className = "msg-" + kind;
    box.textContent = "";
    const strong = document.createElement("strong");
    strong.textContent = title;
    box.appendChild(strong);
    if (detail) {
      const span = document.createElement("span");
      span.className = "detail";
      span.textContent = detail;
      box.appendChild(span);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  const problem = (res, then) => say("error", sentence(res), then || "");

  // Entry -----------------------------------------------------------------------------------------------
  let vehicleClass = C.default_class;
  const classButtons = () => document.querySelectorAll("#entry button.cls");
  function selectClass(cls) {
    vehicleClass = cls;
    classButtons().forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.class === cls)));
    store.set("class." + C.lot, cls);  // the last class, per lot, for the next vehicle and the next visit
    renderQuickKeys();
  }
  classButtons().forEach((button) => {
    button.addEventListener("click", () => { selectClass(button.dataset.class); $("class-choice").hidden = true; });
  });
  store.set("lot", C.lot);
  const plate = $("plate");
  const plateText = () => plate.value.trim().toUpperCase();
  function plateEdited() {  // a new action: the last result's line and the earlier offers go
    $("override-box").hidden = true; $("suggestions").hidden = true; $("class-choice").hidden = true;
    $("message").hidden = true;
  }
  plate.addEventListener("input", plateEdited);

  // The plate keypad ----------------------------------------------------------------------------------------
  function renderQuickKeys() {
    const row = $("kp-quick");
    row.textContent = "";
    ((C.quick || {})[vehicleClass] || []).forEach((text) => {
      const key = document.createElement("button");
      key.type = "button";
      key.className = "kp";
      key.dataset.key = text;
      key.textContent = text;
      row.appendChild(key);
    });
  }
  function typeKey(text) {
    plate.value = (plate.value + text).slice(0, 20);
    plateEdited();
  }
  $("keypad").addEventListener("click", (e) => {
    const key = e.target.closest("button.kp");
    if (key) { typeKey(key.dataset.key); }
  });
  $("kp-back").addEventListener("click", () => { plate.value = plate.value.slice(0, -1); plateEdited(); });
  $("kp-clear").addEventListener("click", () => { plate.value = ""; plateEdited(); });
  function useKeypad(on) {
    $("keypad").hidden = !on;
    $("plate-hint").hidden = on;
    plate.setAttribute("inputmode", on ? "none" : "text");  // no phone keyboard while the keypad shows
    const toggle = $("keypad-toggle");
    toggle.setAttribute("aria-pressed", String(on));
    toggle.title = on ? L.keypad_typing : L.keypad_show;
    toggle.setAttribute("aria-label", toggle.title);
    store.set("keypad", on ? "on" : "off");
  }
  $("keypad-toggle").addEventListener("click", () => {
    const on = $("keypad").hidden;
    useKeypad(on);
    if (!on) { plate.focus(); }
  });

  // The fixed bars stay above the phone's own keyboard when it is open (typing, the cash reason).
  function keyboardInset() {
    const vv = window.visualViewport;
    const inset = vv ? Math.max(0, window.innerHeight - vv.height - vv.offsetTop) : 0;
    document.documentElement.style.setProperty("--kb", Math.round(inset) + "px");
    placeExitSheet();
  }
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", keyboardInset);
    window.visualViewport.addEventListener("scroll", keyboardInset);
  }
  $("entry").addEventListener("submit", (e) => { e.preventDefault(); plate.blur(); });

  function clearEntry() {
    plate.value = "";
    plate.blur();  // put the phone's keyboard away so the result and the list show
    $("override-box").hidden = true;
    $("override-reason").value = "";
    $("suggestions").hidden = true;
    $("class-choice").hidden = true;
  }

  async function checkIn(classConfirmed) {
    const text = plateText();
    if (!text) { say("error", L.plate_empty); plate.focus(); return; }
    const body = { plate: text, vehicle_class: vehicleClass };
    if (classConfirmed === true) { body.class_confirmed = true; }  // the attendant answered the question below
    $("class-choice").hidden = true;
    if (!$("override-box").hidden) {
      const reason = $("override-reason").value.trim();
      if (reason.length < 5) { say("error", L.reason_short); $("override-reason").focus(); return; }
      body.override_reason = reason;
    }
    const res = await call("POST", C.api + "/check-ins", body);
    if (res.ok) {
      say("ok", fmt(L.checked_in, { plate: res.data.plate_written, cls: C.classes[res.data.vehicle_class] }));
      store.set("class." + C.lot, res.data.vehicle_class);
      clearEntry();
      refreshInside();
    } else if (res.data.type === "/problems/plate-needs-override") {
      $("override-box").hidden = false;
      problem(res);
      $("override-reason").focus();
    } else if (res.data.type === "/problems/plate-class-mismatch" && !classConfirmed && showClassChoice(text, res.data.readings || [])) {
      $("message").hidden = true;  // the question below says it all; no second message above it
    } else {
      problem(res);
    }
  }

  // The plate as written is another class's plate (30A-123.45 typed while "Xe máy" was selected): ask once,
  // in one plain question, offering each reading the lot can take. The reading that keeps the plate as typed
  // comes first; one that would change the plate says what it becomes. The answer is sent with class_confirmed.
  function showClassChoice(typed, readings) {
    const box = $("class-choice-list");
    box.textContent = "";
    const offered = [];
    readings.slice().sort((a, b) => Number(b.fits_written_form) - Number(a.fits_written_form)).forEach((r) => {
      const classButton = $("class-" + r.class);
      if (!classButton || classButton.disabled || offered.some((o) => o.class === r.class)) { return; }
      offered.push(r);
    });
    if (!offered.length) { return false; }
    const written = readings.find((r) => r.fits_written_form) || offered[0];
    const nouns = offered.map((r) => L["one." + r.class] || r.class);
    const question = offered.length === 1
      ? fmt(L.take_as, { option: nouns[0] })
      : fmt(L.which, { options: nouns.slice(0, -1).join(", ") + L.or + nouns[nouns.length - 1] });
    $("class-choice-question").textContent =
      fmt(L.plate_is, { plate: written.fits_written_form ? written.plate_display : typed,
                        kind: L["noun." + written.class] || written.class }) + " " + question;
    offered.forEach((r) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.class = r.class;
      button.className = r.fits_written_form ? "as-typed" : "differs";
      const name = document.createElement("strong");
      name.className = "v-class";
      name.textContent = C.classes[r.class] || r.class;
      const note = document.createElement("span");
      note.className = "v-note";
      note.textContent = " \u2014 " + (r.fits_written_form ? L.as_typed : fmt(L.reads_as, { plate: r.plate_display }));
      button.append(name, note);
      button.addEventListener("click", () => exclusive(() => { selectClass(r.class); return checkIn(true); }));
      box.appendChild(button);
    });
    $("class-choice").hidden = false;
    $("class-choice").scrollIntoView({ block: "nearest" });
    box.firstChild.focus();
    return true;
  }

  async function checkOut(sessionId) {
    let body;
    if (sessionId) {
      body = { session_id: sessionId };
    } else {
      const text = plateText();
      if (!text) { say("error", L.plate_empty); plate.focus(); return; }
      body = { plate: text };
    }
    const res = await call("POST", C.api + "/check-outs", body);
    $("suggestions").hidden = true;
    if (res.ok) {
      clearEntry();
      refreshInside();
      if (res.data.status === "closed") {
        say("ok", fmt(L["closed." + res.data.close_reason] || res.data.close_reason, { plate: res.data.plate_written }));
      } else if (res.data.payment) {
        $("message").hidden = true;
        showExit(res.data);
      }
    } else if (res.data.type === "/problems/plate-not-inside" && (res.data.suggestions || []).length) {
      showSuggestions(res.data.suggestions);
      problem(res, L.pick_suggestion);
    } else {
      problem(res);
    }
  }

  function vehicleButton(sessionId, plateWritten, cls, enteredAt, awaiting, kind) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.sessionId = sessionId;
    const parts = [["v-plate", plateWritten], ["v-meta", C.classes[cls] || cls],
                   ["v-meta", L.entered + " " + timeIn(enteredAt)]];
    if (awaiting) { parts.push(["v-tag", L.awaiting]); }
    if (kind) { parts.push(["v-kind", L["kind." + kind] || kind]); }
    parts.forEach(([cssClass, text]) => {
      const span = document.createElement("span");
      span.className = cssClass;
      span.textContent = text;
      button.appendChild(span);
    });
    return button;
  }

  // Ranked candidates (typo help, the plate scanner): one tap on the right vehicle checks it out.
  function showSuggestions(list) {
    const box = $("suggestion-list");
    box.textContent = "";
    list.forEach((s) => {
      const button = vehicleButton(s.session_id, s.plate, s.vehicle_class, s.entered_at, s.status === "awaiting_payment", s.kind);
      button.dataset.kind = s.kind || "";
      button.addEventListener("click", () => exclusive(() => checkOut(s.session_id)));
      box.appendChild(button);
    });
    $("suggestions").hidden = false;
    $("suggestions").scrollIntoView({ block: "nearest" });
  }

  let insideSeq = 0;
  async function refreshInside() {
    const seq = ++insideSeq;
    const res = await call("GET", C.api + "/sessions?status=open");
    if (!res.ok || seq !== insideSeq) { return; }  // a later refresh is on its way
    const list = $("inside-list");
    list.textContent = "";
    $("inside-count").textContent = "(" + res.data.items.length + ")";
    if (!res.data.items.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = L.inside_empty;
      list.appendChild(li);
    }
    res.data.items.forEach((s) => {
      const li = document.createElement("li");
      const button = vehicleButton(s.id, s.plate_written, s.vehicle_class, s.entered_at, s.status === "awaiting_payment");
      button.addEventListener("click", () => openCard(s));  // opens it; checking out is a second tap
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  // Exit screen ------------------------------------------------------------------------------------------
  let exit = null;  // {session, reference, source, poll, done, cashing}

  function stopWatching() {
    if (!exit) { return; }
    if (exit.source) { exit.source.close(); exit.source = null; }
    if (exit.poll) { clearTimeout(exit.poll); exit.poll = null; }
  }

  function setExitStatus(status) {
    const screen = $("exit");
    screen.dataset.status = status;
    $("exit-status").dataset.status = status;
    $("exit-status").textContent = L["status." + status] || status;
    const payable = status === "pending";
    const settled = status === "paid" || status === "cash";
    $("exit-qr-box").hidden = !payable;
    $("exit-tick").hidden = !settled;
    $("cash").hidden = !(payable || status === "partial" || status === "expired");
    $("new-qr").hidden = status !== "expired";
    if (settled || status === "cancelled") {
      $("cash-box").hidden = true;
      exit.done = true;
      stopWatching();
      refreshInside();
    }
  }

  function onPaymentEvent(status, amountRemaining) {
    if (!exit || exit.done) { return; }
    if (status === "cancelled" && exit.cashing) { return; }  // our own cash exception cancelled it
    if (status === "partial") { $("exit-amount").textContent = vnd(amountRemaining); }
    setExitStatus(status);
  }

  function showExit(session) {
    stopWatching();
    const payment = session.payment;
    exit = { session: session, reference: payment.reference, done: false, cashing: false };
    $("exit-plate").textContent = session.plate_written;
    $("exit-amount").textContent = vnd(payment.amount_due);
    const img = $("exit-qr");
    if (payment.qr_png_url) {
      // Same origin always (the CSP allows no other): the API's URL carries the public host name.
      const css = Math.min(window.innerWidth * 0.9, 420);
      const px = Math.max(128, Math.min(1024, Math.round(css * (window.devicePixelRatio || 1))));
      img.src = new URL(payment.qr_png_url, location.href).pathname + "?size=" + px;
      img.alt = fmt(L.qr_alt, { amount: vnd(payment.amount_due) });
    }
    const rows = $("exit-lines").tBodies[0];
    rows.textContent = "";
    (session.fee_lines || []).forEach((line) => {
      const tr = rows.insertRow();
      const label = line.code === "hours"
        ? L["line.hours"] + " " + line.description.replace(/^hours? /, "")
        : L["line." + line.code] || line.description;
      tr.insertCell().textContent = label;
      tr.insertCell().textContent = line.quantity + " × " + vnd(line.unit_price);
      const amount = tr.insertCell();
      amount.className = "num";
      amount.textContent = vnd(line.amount);
    });
    $("exit-reference").textContent = payment.reference;
    $("cash-box").hidden = true;
    $("cash-reason").value = "";
    $("exit-message").textContent = "";
    $("exit").hidden = false;
    document.body.classList.add("exit-open");
    window.scrollTo(0, 0);
    $("exit").scrollTop = 0;
    setExitStatus(payment.status === "pending" && new Date(payment.expires_at) <= new Date() ? "expired" : payment.status);
    placeExitSheet();
    if (!exit.done) { watch(exit); }
  }

  function watch(current) {
    if (!window.EventSource) { poll(current); return; }
    const source = new EventSource("/pay/" + encodeURIComponent(current.reference) + "/events");
    current.source = source;
    source.addEventListener("status", (e) => {
      const ev = JSON.parse(e.data);
      // The stream ends after a final status; close it first or the browser would reconnect.
      if (TERMINAL.indexOf(ev.status) >= 0) { source.close(); }
      if (exit !== current) { return; }
      onPaymentEvent(ev.status === "pending" && ev.amount_received > 0 ? "partial" : ev.status, ev.amount_remaining);
    });
    source.addEventListener("error", () => {
      if (exit !== current || current.done || current.source !== source) { return; }
      source.close();
      current.source = null;
      poll(current);  // the stream failed: ask the parking API every 3 s instead
    });
  }

  function poll(current) {
    const tick = async () => {
      if (exit !== current || current.done) { return; }
      const res = await call("GET", C.api + "/sessions?status=all&limit=1000");
      if (exit !== current || current.done) { return; }
      const s = res.ok ? res.data.items.find((item) => item.id === current.session.id) : null;
      if (s && s.status === "closed") {
        onPaymentEvent(s.close_reason === "cash" ? "cash" : "paid");
      } else if (s && s.status === "voided") {
        onPaymentEvent("cancelled");
      } else if (s && s.payment && s.payment.reference === current.reference) {
        onPaymentEvent(s.payment.status);
      }
      if (!current.done) { current.poll = setTimeout(tick, 3000); }
    };
    current.poll = setTimeout(tick, 3000);
  }

  // The sheet of the cash reason (and of refusals) sits right above the exit screen's fixed bar.
  function placeExitSheet() {
    const bar = document.querySelector(".exit-actions");
    if (!bar || $("exit").hidden) { return; }
    const inset = parseInt(getComputedStyle(document.documentElement).getPropertyValue("--kb"), 10) || 0;
    bar.style.bottom = inset + "px";
    $("exit-sheet").style.bottom = (bar.offsetHeight + inset) + "px";
  }
  $("cash").addEventListener("click", () => {
    $("cash-box").hidden = false;
    placeExitSheet();
    $("cash-reason").focus();
  });
  $("cash-confirm").addEventListener("click", () => exclusive(async () => {
    if (!exit) { return; }
    const current = exit;
    const reason = $("cash-reason").value.trim();
    if (reason.length < 5) { $("exit-message").textContent = L.reason_short; $("cash-reason").focus(); return; }
    current.cashing = true;
    const res = await call("POST", C.api + "/sessions/" + current.session.id + "/cash", { reason: reason });
    current.cashing = false;
    if (exit !== current) { return; }
    if (res.ok) {
      $("exit-message").textContent = "";
      current.cashReason = reason;
      current.done = false;  // a "cancelled" may have slipped in first; cash is the outcome to show
      setExitStatus("cash");
    } else {
      $("exit-message").textContent = sentence(res);
    }
  }));
  $("new-qr").addEventListener("click", () => exclusive(() => checkOut(exit.session.id)));
  // After the exit screen closes, one line says what just happened, until the next action.
  function lastAction(current) {
    const status = $("exit").dataset.status;
    const values = {
      plate: current.session.plate_written,
      amount: vnd(current.session.payment ? current.session.payment.amount_due : current.session.fee_amount || 0),
      reason: current.cashReason || "",
    };
    if (status === "paid") { say("ok", fmt(L.last_paid, values)); }
    else if (status === "cash") { say("ok", fmt(L.last_cash, values)); }
    else if (status === "cancelled") { say("error", fmt(L.last_cancelled, values)); }
    else { say("error", fmt(L.last_unpaid, values)); }
  }
  $("exit-close").addEventListener("click", () => {
    const current = exit;
    stopWatching();
    exit = null;
    $("exit").hidden = true;
    document.body.classList.remove("exit-open");
    if (current) { lastAction(current); }
    refreshInside();
  });

  // The vehicle card ----------------------------------------------------------------------------------------
  let card = null;  // the session shown
  let listScroll = 0;  // where the list was, to come back to it
  function cardSay(text) { $("card-message").textContent = text || ""; }
  function openCard(s) {
    card = s;
    $("card-plate").textContent = s.plate_written;
    $("card-class").textContent = C.classes[s.vehicle_class] || s.vehicle_class;
    $("card-entered").textContent = fmt(L.card_entered, { at: timeIn(s.entered_at) });
    $("card-status").hidden = s.status !== "awaiting_payment";
    $("card-status").textContent = L.awaiting;
    const may = s.correctable === true;
    $("card-window").textContent = may
      ? fmt(L.card_window, { until: clockOf(s.correctable_until) })
      : (s.status === "inside" ? L.card_window_over : "");
    $("card-window").hidden = !$("card-window").textContent;
    $("card-correct").hidden = !may;
    $("card-cancel").hidden = !may;
    $("card-cancel-confirm").hidden = true;
    $("card-void").hidden = !C.admin;
    $("card-edit").hidden = true;
    $("card-void-box").hidden = true;
    $("card-void-reason").value = "";
    cardSay("");
    $("card").hidden = false;
    listScroll = window.scrollY;
    document.body.classList.add("card-open");
    window.scrollTo(0, 0);
    $("card").scrollTop = 0;
    $("card-checkout").focus();
  }
  function closeCard() {
    card = null;
    $("card").hidden = true;
    document.body.classList.remove("card-open");
    window.scrollTo(0, listScroll);
  }
  $("card-close").addEventListener("click", closeCard);
  $("card-checkout").addEventListener("click", () => exclusive(async () => {
    const s = card;
    closeCard();
    await checkOut(s.id);
  }));
  $("card-correct").addEventListener("click", () => {
    $("card-edit").hidden = false;
    $("card-override").hidden = true;
    $("card-override-reason").value = "";
    $("card-plate-input").value = card.plate_written;
    document.querySelectorAll("#card-classes button.cls").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.class === card.vehicle_class)));
    $("card-plate-input").focus();
  });
  $("card-plate-input").addEventListener("input", () => { $("card-override").hidden = true; cardSay(""); });
  document.querySelectorAll("#card-classes button.cls").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("#card-classes button.cls").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    });
  });
  $("card-save").addEventListener("click", () => exclusive(async () => {
    const s = card;
    const chosen = document.querySelector('#card-classes button.cls[aria-pressed="true"]');
    const body = {};
    const typed = $("card-plate-input").value.trim().toUpperCase();
    if (!typed) { cardSay(L.plate_empty); return; }
    if (typed !== s.plate_written) { body.plate = typed; }
    if (chosen && chosen.dataset.class !== s.vehicle_class) { body.vehicle_class = chosen.dataset.class; }
    if (!body.plate && !body.vehicle_class) { body.plate = typed; }  // the server says nothing changed
    if (!$("card-override").hidden) {  // a plate that fits no rule, vouched for with a reason
      const reason = $("card-override-reason").value.trim();
      if (reason.length < 5) { cardSay(L.reason_short); $("card-override-reason").focus(); return; }
      body.override_reason = reason;
    }
    const res = await call("POST", C.api + "/sessions/" + s.id + "/correct", body);
    if (!res.ok) {
      cardSay(sentence(res));
      if (res.data.type === "/problems/plate-needs-override") {
        $("card-override").hidden = false;
        $("card-override-reason").focus();
      }
      return;
    }
    closeCard();
    say("ok", fmt(L.corrected, {
      old: s.plate_written + " (" + (C.classes[s.vehicle_class] || s.vehicle_class) + ")",
      new: res.data.plate_written + " (" + (C.classes[res.data.vehicle_class] || res.data.vehicle_class) + ")",
    }));
    refreshInside();
  }));
  $("card-cancel").addEventListener("click", () => {  // a second, deliberate tap confirms
    $("card-cancel").hidden = true;
    $("card-cancel-confirm").hidden = false;
    $("card-cancel-confirm").focus();
  });
  $("card-cancel-confirm").addEventListener("click", () => exclusive(async () => {
    const s = card;
    const res = await call("POST", C.api + "/sessions/" + s.id + "/cancel", {});
    if (!res.ok) { cardSay(sentence(res)); return; }
    closeCard();
    say("ok", fmt(L.cancelled, { plate: s.plate_written }));
    refreshInside();
  }));
  $("card-void").addEventListener("click", () => {
    $("card-void-box").hidden = false;
    $("card-void-reason").focus();
  });
  $("card-void-confirm").addEventListener("click", () => exclusive(async () => {
    const s = card;
    const reason = $("card-void-reason").value.trim();
    if (reason.length < 5) { cardSay(L.reason_short); $("card-void-reason").focus(); return; }
    const res = await call("POST", C.void_api + s.id + "/void", { reason: reason });
    if (!res.ok) { cardSay(sentence(res)); return; }
    closeCard();
    say("ok", fmt(L.voided, { plate: s.plate_written }));
    refreshInside();
  }));

  // The plate scanner (parking/plate_scan.html) hands over its readings: the best one fills the plate field
  // for a check-in; the vehicles inside that they may mean are offered, ranked, for a one-tap check-out.
  // Not `exclusive`: a reading is never dropped because another action is still on its way; it only reads.
  document.addEventListener("citypay:plate-readings", async (e) => {
    const readings = ((e.detail && e.detail.readings) || []).filter((r) => r && r.plate)
      .map((r) => ({ plate: String(r.plate).slice(0, 20), score: Math.max(0, Math.min(1, Number(r.score) || 0)) }))
      .sort((a, b) => b.score - a.score).slice(0, 20);
    if (!readings.length) { return; }
    plate.value = readings[0].plate;
    plateEdited();
    const res = await call("POST", C.api + "/candidates", { readings: readings });
    if (!res.ok) { problem(res); return; }
    if (res.data.items.length) {
      showSuggestions(res.data.items);
      say("ok", L.candidates);
    }  // else: the scanner's own status line says what it read; the attendant checks it and taps Xe vào
  });

  // Start as last time: the class of this lot, the keypad or the phone keyboard.
  const remembered = store.get("class." + C.lot);
  const rememberedButton = remembered ? $("class-" + remembered) : null;
  if (rememberedButton && !rememberedButton.disabled) { vehicleClass = remembered; }
  classButtons().forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.class === vehicleClass)));
  renderQuickKeys();
  useKeypad(store.get("keypad") !== "off");

  $("check-in").addEventListener("click", () => exclusive(checkIn));
  $("check-out").addEventListener("click", () => exclusive(() => checkOut(null)));
  $("refresh").addEventListener("click", refreshInside);
  refreshInside();
})();
