// The console's lot list (parking/templates/console_lots.html): the lot worked last time is remembered
// (console.js stores it); coming back goes straight to it, unless "Đổi bãi" asked for the list (?pick=1).
(function () {
  "use strict";
  let last = null;
  try { last = window.localStorage.getItem("citypay.console.lot"); } catch (e) { return; }
  if (!last) { return; }
  const link = document.querySelector('#lots a[data-lot="' + CSS.escape(last) + '"]');
  if (!link) { return; }
  if (!new URLSearchParams(location.search).has("pick")) { location.replace(link.href); return; }
  const item = link.closest("li");
  item.parentNode.insertBefore(item, item.parentNode.firstChild);  // the last lot first
  link.setAttribute("aria-current", "true");
})();
