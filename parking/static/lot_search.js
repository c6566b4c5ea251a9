// "Near me" on the public lot search (parking/templates/lot_search.html); config in #psearch-config.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("psearch-config").textContent);
  var L = cfg.labels;
  var controls = document.getElementById("near-controls");
  var status = document.getElementById("geo-status");
  var list = document.getElementById("lot-results");
  var count = document.getElementById("result-count");
  if (!("geolocation" in navigator) || !window.fetch) return;  // the ward search still works
  controls.hidden = false;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? String(values[k]) : m; });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function distance(m) {
    return m < 1000 ? m + " m" : (m / 1000).toFixed(1).replace(".", ",") + " km";
  }
  function render(items) {
    list.textContent = "";
    count.textContent = "";
    count.appendChild(el("strong", "", fill(L.results, {n: items.length})));
    if (!items.length) { list.appendChild(el("li", "muted", L.none)); return; }
    items.forEach(function (lot) {
      var li = el("li", "lot");
      li.dataset.lot = lot.id;
      li.appendChild(el("h2", "", lot.name));
      li.appendChild(el("p", "where", lot.address + " · " + lot.ward));
      var meta = el("div", "meta");
      if (lot.distance_m !== null) meta.appendChild(el("span", "", fill(L.distance, {d: distance(lot.distance_m)})));
      meta.appendChild(el("span", "", L.hours + ": " + (lot.opening_hours === "24/7" ? L.all_day : lot.opening_hours)));
      var map = el("a", "", L.map);
      map.href = "https://www.openstreetmap.org/?mlat=" + lot.lat + "&mlon=" + lot.lon + "#map=18/" + lot.lat + "/" + lot.lon;
      map.rel = "noopener noreferrer";
      meta.appendChild(map);
      li.appendChild(meta);
      var spaces = el("ul", "spaces");
      cfg.classes.forEach(function (pair) {
        var c = pair[0], s = lot.spaces[c];
        if (!s) return;
        var free = Math.max(s.free, 0);
        var item = el("li", free > 0 ? "free" : "full",
                      pair[1] + ": " + fill(L.free_of, {free: free, capacity: s.capacity}));
        item.dataset["class"] = c;
        spaces.appendChild(item);
      });
      li.appendChild(spaces);
      list.appendChild(li);
    });
  }
  document.getElementById("near-me").addEventListener("click", function () {
    status.textContent = L.locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      var params = new URLSearchParams({
        near: pos.coords.latitude.toFixed(6) + "," + pos.coords.longitude.toFixed(6),
        radius_m: document.getElementById("radius_m").value,
        limit: "50"
      });
      var cls = document.getElementById("vehicle_class").value;
      if (cls) params.set("vehicle_class", cls);
      if (document.getElementById("available").checked) params.set("available", "true");
      fetch(cfg.api + "?" + params.toString(), {headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) { status.textContent = ""; render(body.items); })
        .catch(function () { status.textContent = L.failed; });
    }, function () { status.textContent = L.no_geo; }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  });
})();
