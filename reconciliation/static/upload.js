// The statements page's upload (reconciliation/templates/statements.html): core/static/upload.js sends the
// chosen file to POST /api/v1/reconciliation/statements with its progress; this reports what was imported
// and reloads the list. A file, not an inline script: the CSP.
(function () {
  "use strict";
  window.citypayUpload("statement-upload", 201, function (answer, data, say, fill) {
    var text = fill(data.texts.done, {
      statements: answer.statements.length, "new": answer.new_lines, dup: answer.duplicate_lines
    });
    if (answer.sequence_gaps.length) { text += " " + data.texts.gap + ": " + answer.sequence_gaps.join("; "); }
    say(text);
    window.setTimeout(function () { window.location.reload(); }, 1500);
  });
})();
