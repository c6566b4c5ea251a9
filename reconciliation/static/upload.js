// The statements page's upload (reconciliation/templates/statements.html): sends the chosen file to
// POST /api/v1/reconciliation/statements with XMLHttpRequest so the upload's progress can be shown, then
// reports what was imported (or why not) and reloads the list. A file, not an inline script: the CSP.
(function () {
  "use strict";
  var form = document.getElementById("statement-upload");
  var data = JSON.parse(document.getElementById("upload-data").textContent);
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  if (!form) { return; }

  function say(text) { status.textContent = text; }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
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
      if (xhr.status === 201 && answer) {
        var text = fill(data.texts.done, {
          statements: answer.statements.length, "new": answer.new_lines, dup: answer.duplicate_lines
        });
        if (answer.sequence_gaps.length) { text += " " + data.texts.gap + ": " + answer.sequence_gaps.join("; "); }
        say(text);
        window.setTimeout(function () { window.location.reload(); }, 1500);
      } else {
        say(data.texts.failed + ": " + ((answer && (answer.detail || answer.title)) || xhr.status));
      }
    });
    xhr.addEventListener("error", function () { say(data.texts.failed); });
    xhr.send(body);
  });
})();
