// Receipt pages (payments/templates/receipt.html, receipt_verify.html): listeners here, not inline handlers,
// so the pages' CSP needs no 'unsafe-inline'.
(function () {
  "use strict";
  // The receipt's print button.
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }

  // The verification form's photo of a QR code: choosing (or taking) the photo sends it at once — one tap
  // after the camera. Without this script the form's own button sends it.
  var photo = document.getElementById("verify-photo");
  var form = document.getElementById("verify-photo-form");
  if (photo && form) {
    var send = document.getElementById("verify-photo-submit");
    if (send) { send.style.display = "none"; }  // the base style shows buttons whatever `hidden` says
    photo.addEventListener("change", function () {
      if (!photo.files || !photo.files.length) { return; }
      var picked = document.getElementById("verify-photo-picked");
      if (picked) { picked.textContent = photo.files[0].name; }
      form.submit();
    });
  }
})();
