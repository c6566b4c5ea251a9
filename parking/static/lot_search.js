// The public lot search (parking/templates/lot_search.html); config in #psearch-config.
// The list is painted by the server; this script adds "Bãi gần tôi" (the browser's position, then the nearest
// lots from /parking/results, painted by the same template), refreshes the list when the vehicle class
// changes (remembered in a cookie), and draws a small Leaflet map of the listed lots. The map is an extra:
// no Leaflet, no tiles or any error in it leaves the list as it is.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("psearch-config").textContent);
  var T = cfg.labels;  // sentences from the catalogue
  var form = document.getElementById("lot-search");
  var status = document.getElementById("geo-status");
  var list = document.getElementById("lot-results");
  var count = document.getElementById("result-count");
  var classSelect = document.getElementById("vehicle_class");
  var nearButton = document.getElementById("near-me");
  var showAll = document.getElementById("show-all");
  var position = null;  // {lat, lon} while the list is "near me"
  var generation = 0;   // answers to an older request are dropped

  function say(text, isError) {
    status.textContent = text || "";
    status.className = isError ? "error" : "muted";
  }

  function remember(cls) {
    document.cookie = "lot_class=" + encodeURIComponent(cls) + "; path=/parking; max-age=31536000; samesite=lax";
  }

  function query() {
    var params = new URLSearchParams();
    params.set("vehicle_class", classSelect.value);
    if (position) {
      params.set("near", position.lat.toFixed(6) + "," + position.lon.toFixed(6));
    } else {
      var ward = document.getElementById("ward").value;
      if (ward) params.set("ward", ward);
    }
    if (document.getElementById("available").checked) params.set("available", "1");
    return params;
  }

  function problemSentence(resp) {
    return resp.json().then(function (body) {
      return (body && body.message) || T.load_failed;
    }, function () { return T.load_failed; });
  }

  function load(progress) {
    var mine = ++generation;
    say(progress, false);
    return fetch(cfg.results + "?" + query().toString(), {headers: {"Accept": "application/json"}})
      .then(function (resp) {
        if (mine !== generation) return;
        if (!resp.ok) return problemSentence(resp).then(function (text) { if (mine === generation) say(text, true); });
        return resp.json().then(function (body) {
          if (mine !== generation) return;
          list.innerHTML = body.html;  // our own template, escaped on the server
          count.textContent = "";
          var strong = document.createElement("strong");
          strong.textContent = body.summary;
          count.appendChild(strong);
          showAll.hidden = !position;
          say("", false);
          drawMarkers();
        });
      })
      .catch(function () { if (mine === generation) say(T.load_failed, true); });
  }

  // The vehicle class: remembered, and the list follows it at once (no page load).
  var searchButton = document.getElementById("search-submit");
  if (window.fetch && window.URLSearchParams) {
    searchButton.hidden = true;
    classSelect.addEventListener("change", function () {
      remember(classSelect.value);
      load(T.loading_list);
    });
  }

  // "Bãi gần tôi".
  if (window.fetch && "geolocation" in navigator) {
    nearButton.hidden = false;
    nearButton.addEventListener("click", function () {
      if (!navigator.geolocation) { say(T.geo_unsupported, true); return; }
      generation++;
      say(T.locating, false);
      nearButton.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        nearButton.disabled = false;
        position = {lat: pos.coords.latitude, lon: pos.coords.longitude};
        load(T.loading).then(function () { showPosition(); });
      }, function (err) {
        nearButton.disabled = false;
        say(err && err.code === 1 ? T.geo_denied : T.geo_unavailable, true);
      }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
    });
    showAll.addEventListener("click", function () {
      position = null;
      load(T.loading_list);
    });
  }

  // The map: after the list, never in its way.
  var map = null, markers = null, here = null, icon = null;

  function drawMarkers() {
    if (!map) return;
    try {
      markers.clearLayers();
      var bounds = [];
      Array.prototype.forEach.call(list.querySelectorAll("li.lot"), function (li) {
        var lat = parseFloat(li.dataset.lat), lon = parseFloat(li.dataset.lon);
        if (isNaN(lat) || isNaN(lon)) return;
        var marker = window.L.marker([lat, lon], {icon: icon, title: li.dataset.name, alt: li.dataset.name});
        marker.bindPopup(document.createTextNode(li.dataset.name));
        marker.on("click", function () { li.scrollIntoView({block: "nearest"}); });
        markers.addLayer(marker);
        bounds.push([lat, lon]);
      });
      if (position) bounds.push([position.lat, position.lon]);
      if (bounds.length) map.fitBounds(bounds, {padding: [20, 20], maxZoom: 16});
    } catch (e) { /* the list stands without the map */ }
  }

  function showPosition() {
    if (!map || !position) return;
    try {
      if (here) here.remove();
      here = window.L.circleMarker([position.lat, position.lon], {radius: 8, color: "#0b57d0", fillOpacity: 0.6});
      here.addTo(map);
    } catch (e) { /* the list stands without the map */ }
  }

  function startMap() {
    if (!window.L || !window.L.map) return;  // Leaflet did not load: the list alone
    try {
      var box = document.getElementById("map-box");
      var note = document.getElementById("map-note");
      box.hidden = false;
      icon = window.L.icon({
        iconUrl: cfg.marker.icon, iconRetinaUrl: cfg.marker.icon2x, shadowUrl: cfg.marker.shadow,
        iconSize: [25, 41], iconAnchor: [12, 41], popupAnchor: [1, -34], shadowSize: [41, 41]
      });
      map = window.L.map("lot-map", {scrollWheelZoom: false});
      markers = window.L.layerGroup().addTo(map);
      var tiles = window.L.tileLayer(cfg.tiles, {
        maxZoom: 19, attribution: cfg.attribution, referrerPolicy: "strict-origin-when-cross-origin"
      });
      tiles.on("tileerror", function () {
        if (note.hidden) { note.textContent = T.map_offline; note.hidden = false; }
      });
      tiles.on("tileload", function () { note.hidden = true; });
      tiles.addTo(map);
      map.setView([21.0287, 105.8524], 13);  // Hoàn Kiếm until the lots are known
      drawMarkers();
    } catch (e) {
      map = null;
      document.getElementById("map-box").hidden = true;
    }
  }

  // After the list is on screen and the page is idle: the map never delays the list.
  if (document.readyState === "complete") setTimeout(startMap, 0);
  else window.addEventListener("load", function () { setTimeout(startMap, 0); });
  form.addEventListener("submit", function () { remember(classSelect.value); });
})();
