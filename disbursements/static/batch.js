// A batch's live progress: follows /disbursements/batches/{id}/events (server-sent `summary` events) and
// redraws the progress bar, the counts per state, the refusals by reason and the batch's state. The stream
// ends when the batch is completed or cancelled; then the page stops listening.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.EventSource || box.dataset.done === "true") { return; }
  var lang = document.documentElement.lang === "en" ? "en-US" : "vi-VN";
  var fmt = new Intl.NumberFormat(lang);
  var meanings = JSON.parse(box.dataset.meanings || "{}");
  var states = JSON.parse(box.dataset.states || "{}");
  var live = document.getElementById("live");
  var setLive = function (on) { if (live) { live.textContent = on ? live.dataset.on : live.dataset.off; } };

  var show = function (ev) {
    Array.prototype.forEach.call(document.querySelectorAll("#bar span[data-state]"), function (seg) {
      seg.style.width = (ev.bar[seg.dataset.state] || 0) + "%";
    });
    Object.keys(ev.bar).forEach(function (s) {
      var el = document.getElementById("count-" + s);
      if (el) { el.textContent = fmt.format(ev.counts[s] || 0); }
    });
    var state = document.getElementById("state");
    if (state && state.dataset.state !== ev.state) {
      state.dataset.state = ev.state;
      state.textContent = states[ev.state] || ev.state;
    }
    var body = document.querySelector("#failed-reasons tbody");
    var codes = Object.keys(ev.failed_by_reason).sort();
    if (body && codes.length) {
      while (body.firstChild) { body.removeChild(body.firstChild); }
      codes.forEach(function (code) {
        var tr = document.createElement("tr");
        tr.dataset.code = code;
        var cells = [code, meanings[code] || code, fmt.format(ev.failed_by_reason[code])];
        cells.forEach(function (text, i) {
          var td = document.createElement("td");
          if (i === 0) { var c = document.createElement("code"); c.textContent = text; td.appendChild(c); }
          else { td.textContent = text; }
          if (i === 2) { td.className = "num"; }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    }
  };

  var source = new EventSource(box.dataset.events);
  source.addEventListener("open", function () { setLive(true); });
  source.addEventListener("error", function () { setLive(false); });
  source.addEventListener("summary", function (e) {
    var ev = JSON.parse(e.data);
    show(ev);
    // The server ends the stream after a final state; without close() the browser would reconnect.
    if (ev.done) {
      source.close();
      setLive(false);
      // The actions (approve, cancel) and the downloads depend on the state: show the final page.
      window.location.reload();
    }
  });
})();
