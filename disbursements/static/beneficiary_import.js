// The beneficiary import page (disbursements/templates/disbursements/beneficiaries_import.html): sends the
// chosen CSV to POST /api/v1/disbursements/beneficiaries/import with XMLHttpRequest so the upload's progress
// can be shown, then reports the counts, lists each failed row (line, column, problem) and offers the failed
// rows as a CSV to fix and upload again (built in the browser from the answer: nothing is stored on the
// server). Copied from reconciliation/static/upload.js. A file, not an inline script: the CSP.
(function () {
  "use strict";
  var form = document.getElementById("beneficiary-upload");
  if (!form) { return; }
  var data = JSON.parse(document.getElementById("upload-data").textContent);
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var report = document.getElementById("import-report");
  var rows = document.querySelector("#import-errors tbody");
  var download = document.getElementById("failed-download");
  var lastUrl = null;

  function say(text) { status.textContent = text; }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = String(text);
    if (cls) { td.className = cls; }
    tr.appendChild(td);
  }
  function show(answer) {
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    answer.errors.forEach(function (e) {
      var tr = document.createElement("tr");
      cell(tr, e.line, "num");
      cell(tr, e.field);
      cell(tr, e.message);
      rows.appendChild(tr);
    });
    if (lastUrl) { URL.revokeObjectURL(lastUrl); lastUrl = null; }
    if (answer.failed_csv) {
      lastUrl = URL.createObjectURL(new Blob([answer.failed_csv], { type: "text/csv;charset=utf-8" }));
      download.href = lastUrl;
      download.hidden = false;
    } else {
      download.hidden = true;
    }
    report.hidden = answer.errors.length === 0;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = form.elements.file.files[0];
    if (!file) { return; }
    if (file.size > data.max_bytes) { say(data.texts.failed + ": " + data.texts.too_large); return; }
    var body = new FormData(form);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-CSRF-Token", data.csrf || "");
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    say(data.texts.uploading);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
    });
    xhr.upload.addEventListener("load", function () { bar.value = 100; say(data.texts.checking); });
    xhr.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      if (xhr.status === 200 && answer) {
        say(fill(data.texts.done, answer));
        show(answer);
      } else {
        say(data.texts.failed + ": " + ((answer && (answer.detail || answer.title)) || xhr.status));
      }
    });
    xhr.addEventListener("error", function () { say(data.texts.failed); });
    xhr.send(body);
  });
})();
