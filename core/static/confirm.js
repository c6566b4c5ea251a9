// A form with data-confirm="<question>" asks before it posts (removing an attendant, retiring a bank key,
// revoking an API token, disabling a staff account): the first tap opens the <dialog id="confirm-dialog">
// of core/templates/base.html with the question; its OK button (labelled by data-confirm-yes, else "Đồng ý")
// posts the form, "Huỷ" or Esc keeps everything as it was. Without this script (or without <dialog>) the form simply posts, as it always did.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var text = document.getElementById("confirm-text");
  var ok = document.getElementById("confirm-ok");
  var okLabel = ok.textContent;
  var pending = null;

  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
      event.preventDefault();
      pending = form;
      text.textContent = form.getAttribute("data-confirm");
      // the button says what it does ("Bỏ phân công", "Thu hồi") when the form names it
      ok.textContent = form.getAttribute("data-confirm-yes") || okLabel;
      dialog.returnValue = "";
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    },
    true
  );

  dialog.addEventListener("close", function () {
    var form = pending;
    pending = null;
    if (form && dialog.returnValue === "ok") {
      // The prototype's submit: posts without firing "submit" again, even if an input is named "submit".
      HTMLFormElement.prototype.submit.call(form);
    }
  });
})();
