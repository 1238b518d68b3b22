// The families' search page. Everything here is an extra: without JavaScript the form and the list work.
(function () {
  "use strict";

  // ---- "Use my location": the browser's position, sent instead of a postcode -----------------
  var form = document.querySelector(".search-form");
  var locate = document.getElementById("use-location");
  var locationError = document.getElementById("location-error");
  if (form && locate && "geolocation" in navigator) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      locate.disabled = true;
      locate.textContent = "Finding your location…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        var lat = document.getElementById("lat"), lon = document.getElementById("lon");
        lat.value = pos.coords.latitude.toFixed(5);
        lon.value = pos.coords.longitude.toFixed(5);
        lat.disabled = lon.disabled = false;
        document.getElementById("near").value = "";
        form.submit();
      }, function () {
        locate.disabled = false;
        locate.textContent = "Use my location";
        locationError.textContent = "Your location could not be found. Enter a postcode or town instead.";
        locationError.hidden = false;
      }, { timeout: 15000, maximumAge: 300000 });
    });
  }

  // ---- after Search: the results heading (or the problem) has the focus, on the first screen --
  // The form posts to #results, so without JavaScript the browser scrolls there and focuses the
  // heading (tabindex=-1); this does the same for the problem and too-many-searches boxes.
  if (location.hash === "#results") {
    var first = document.getElementById("results") || document.querySelector(".error-summary");
    if (first) first.focus();
  }

  var dataEl = document.getElementById("public-data");
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var section = document.querySelector("section.results");

  // ---- the map: the list is complete without it ---------------------------------------------
  var mapEl = document.getElementById("map");
  var map = null, pins = null;
  if (mapEl && window.L && data.tile_url) {
    mapEl.hidden = false;
    map = L.map(mapEl, { scrollWheelZoom: false });
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    // The page's Referrer-Policy tells other sites nothing; the tile server is told this site's
    // origin (never the search), as OpenStreetMap's tile policy asks of web pages.
    L.tileLayer(data.tile_url, { maxZoom: 18, attribution: data.tile_attribution, referrerPolicy: "strict-origin" })
      .addTo(map);
    pins = L.layerGroup().addTo(map);
    placePins();
  }
  function placePins() {
    if (!map) return;
    pins.clearLayers();
    var bounds = [[data.origin.lat, data.origin.lon]];
    L.circleMarker([data.origin.lat, data.origin.lon], { radius: 8, color: "#005eb8" })
      .bindTooltip(data.origin.label).addTo(pins);
    data.markers.forEach(function (home) {
      var label = home.name + ", " + home.distance_km + " km (" + home.distance_miles + " miles): " + home.status_text;
      // Pictures, not controls: nearby homes' pins overlap (too small a target, WCAG 2.2), and the
      // list already holds everything a pin could say.
      L.marker([home.lat, home.lon], { alt: label, interactive: false, keyboard: false }).addTo(pins);
      bounds.push([home.lat, home.lon]);
    });
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
  }

  // ---- ages: "3 hours ago" keeps counting while the page is open ----------------------------
  function ago(iso) {
    var seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return "just now";
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var n = Math.floor(seconds / units[i][0]);
        return n + " " + units[i][1] + (n === 1 ? "" : "s") + " ago";
      }
    }
  }
  function refreshAges() {
    var expired = false;
    document.querySelectorAll("time.ago").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      el.textContent = ago(iso);
      var card = el.closest(".home-card");
      // A home that stops confirming becomes "not confirmed" without any update to hear of, at the
      // time the server gave (tracker/availability.py).
      if (card && /status-(vacancies|full)/.test(card.className) && card.dataset.unverifiedAt &&
          Date.now() >= Date.parse(card.dataset.unverifiedAt)) expired = true;
    });
    if (expired && socket) catchUp();
  }
  setInterval(refreshAges, 60000);

  // ---- live: the page follows its homes, and re-asks for its results when one changes --------
  // (docs/public-search.md). The server renders the results again, so the heading, the lists and
  // "further away" always agree: a home that loses its last vacancy leaves the list it was in.
  var announce = document.getElementById("live-announce");
  var socket = null;
  if (!window.io || !data.homes.length) return;
  var state = "connecting", retryAt = 0, fetching = false, again = false, heard = {}, timer = null;

  function hhmm(date) {
    return date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/London" });
  }
  function sayState() {
    var note = document.getElementById("live-note");
    if (!note || state === "connecting") return;  // the page's own "Shown at …, Refresh" stands
    var shown = hhmm(new Date(data.generated_at));
    if (state === "live") {
      note.textContent = "These results update by themselves when a home's vacancies change. Last checked at " +
        shown + ".";
      return;
    }
    note.textContent = (state === "busy"
      ? "This page is not updating: too many searches from your connection. It will try again at " + hhmm(new Date(retryAt)) + ". "
      : state === "refused"
      ? "This page is not updating: too many pages are open from your connection. Close some, then refresh this one. "
      : "This page is not updating at the moment: the connection was lost, and it is trying to reconnect. ") +
      "The results below are as they were at " + shown + ". ";
    var refresh = document.createElement("a");
    refresh.href = location.pathname + location.search + "#results";
    refresh.textContent = "Refresh";
    note.appendChild(refresh);
  }

  function catchUp() {
    clearTimeout(timer);
    timer = setTimeout(fetchResults, 300);  // several homes changing at once: one fetch
  }
  function fetchResults() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(location.pathname + location.search, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 429) {
          var wait = parseInt(response.headers.get("Retry-After"), 10) || 60;
          retryAt = Date.now() + wait * 1000;
          state = "busy";
          sayState();
          setTimeout(function () { if (state === "busy") state = socket.connected ? "live" : socket.active ? "offline" : "refused"; catchUp(); },
            wait * 1000);
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html) render(new DOMParser().parseFromString(html, "text/html")); })
      .catch(function () { /* offline: the socket's disconnect says so; its reconnect catches up */ })
      .then(function () {
        fetching = false;
        if (again) { again = false; catchUp(); }
      });
  }

  function render(doc) {
    var fresh = doc.querySelector("section.results"), freshData = doc.getElementById("public-data");
    if (!fresh || !freshData) return;
    var focused = document.activeElement, focusedHome = null, hadFocus = section.contains(focused);
    if (hadFocus && focused.closest(".home-card")) focusedHome = focused.closest(".home-card").getAttribute("data-home-id");
    var placeholder = fresh.querySelector("#map");
    if (placeholder && mapEl) placeholder.replaceWith(mapEl);  // the same Leaflet map, moved in
    section.replaceChildren.apply(section, Array.prototype.slice.call(fresh.childNodes));
    data = JSON.parse(freshData.textContent);
    placePins();

    var said = [];
    Object.keys(heard).forEach(function (id) {
      var card = section.querySelector('.home-card[data-home-id="' + id + '"]');
      if (card) {
        card.classList.add("changed");
        said.push(heard[id] + ": " + card.querySelector(".tag").textContent.toLowerCase() + ".");
      } else {
        said.push(heard[id] + ": no longer in these results.");
      }
    });
    heard = {};
    var heading = document.getElementById("results").textContent.replace(/\s+/g, " ").trim();
    if (said.length) announce.textContent = said.join(" ") + " " + heading + ".";
    if (hadFocus) {
      var back = focusedHome && section.querySelector('.home-card[data-home-id="' + focusedHome + '"] a');
      (back || document.getElementById("results")).focus();
    }
    sayState();
    if (String(data.homes) !== String(watching)) {
      watching = data.homes;
      socket.emit("watch", { homes: watching, seq: data.seq }, function (missed) { if (missed) catchUp(); });
    }
  }

  var watching = data.homes;
  // auth is read at every (re)connect: the homes shown now, and the cursor they were made at.
  socket = io("/public", {
    transports: ["websocket", "polling"],
    auth: function (send) { send({ homes: watching, seq: data.seq }); },
  });
  socket.on("connect", function () {
    if (state !== "busy") state = "live";
    sayState();
  });
  socket.on("disconnect", function () {
    if (state !== "busy") state = "offline";
    sayState();
  });
  socket.on("connect_error", function () {
    // Refused by the server (too many live pages from this connection): it will not retry, so say so.
    if (!socket.active && state !== "busy") { state = "refused"; sayState(); }
  });
  socket.on("changed", catchUp);  // an update this page missed while it loaded or was disconnected
  socket.on("home", function (home) {
    heard[home.id] = home.name;
    catchUp();
  });
})();
