// The beneficiary import page (disbursements/templates/beneficiaries_import.html): core/static/upload.js
// sends the chosen CSV to POST /api/v1/disbursements/beneficiaries/import with its progress; this reports the
// counts, lists each failed row (line, column, problem) and offers the failed rows as a CSV to fix and upload
// again (built in the browser from the answer: nothing is stored on the server). A file, not an inline
// script: the CSP.
(function () {
  "use strict";
  var report = document.getElementById("import-report");
  var rows = document.querySelector("#import-errors tbody");
  var download = document.getElementById("failed-download");
  var lastUrl = null;

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

  window.citypayUpload("beneficiary-upload", 200, function (answer, data, say, fill) {
    say(fill(data.texts.done, answer));
    show(answer);
  });
})();
