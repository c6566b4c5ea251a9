// A file upload with progress, shared by the statements page (reconciliation/static/upload.js) and the
// beneficiary import (disbursements/static/beneficiary_import.js). The page holds a form with a file input,
// a <progress id="upload-progress">, a status line #upload-status and a JSON block #upload-data
// ({csrf, max_bytes, texts: {uploading, checking, failed, too_large, done, …}}). On the expected status the
// page's own `done(answer, say, fill)` reports the result; any refusal shows the problem's catalogue
// sentence (`message`), never its English `detail`. A file, not an inline script: the CSP.
(function () {
  "use strict";
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }

  window.citypayUpload = function (formId, okStatus, done) {
    var form = document.getElementById(formId);
    if (!form) { return; }
    var data = JSON.parse(document.getElementById("upload-data").textContent);
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    function say(text) { status.textContent = text; }

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
        if (xhr.status === okStatus && answer) {
          done(answer, data, say, fill);
        } else {
          say(data.texts.failed + ": " + ((answer && (answer.message || answer.title)) || xhr.status));
        }
      });
      xhr.addEventListener("error", function () { say(data.texts.failed); });
      xhr.send(body);
    });
  };
})();
