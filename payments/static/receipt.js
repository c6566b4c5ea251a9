// The receipt's print button (payments/templates/receipt.html): a listener here, not an inline onclick,
// so the page's CSP needs no 'unsafe-inline'.
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
