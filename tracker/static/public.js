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

  var dataEl = document.getElementById("public-data");
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent);

  // ---- the map: the list is complete without it ---------------------------------------------
  var mapEl = document.getElementById("map");
  if (mapEl && window.L && data.tile_url) {
    mapEl.hidden = false;
    var map = L.map(mapEl, { scrollWheelZoom: false });
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    L.tileLayer(data.tile_url, { maxZoom: 18, attribution: data.tile_attribution }).addTo(map);
    var bounds = [[data.origin.lat, data.origin.lon]];
    L.circleMarker([data.origin.lat, data.origin.lon], { radius: 8, color: "#005eb8" })
      .bindTooltip(data.origin.label).addTo(map);
    data.markers.forEach(function (home) {
      var label = home.name + ", " + home.distance_km + " km: " + home.status_text;
      // Pictures, not controls: nearby homes' pins overlap (too small a target, WCAG 2.2), and the
      // list below already holds everything a pin could say.
      L.marker([home.lat, home.lon], { alt: label, interactive: false, keyboard: false }).addTo(map);
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
    document.querySelectorAll("time.ago").forEach(function (el) { el.textContent = ago(el.getAttribute("datetime")); });
  }
  setInterval(refreshAges, 60000);

  // ---- live: the homes on this page, as families may see them (docs/public-search.md) --------
  var note = document.getElementById("live-note");
  var announce = document.getElementById("live-announce");
  var shownAt = note ? note.innerHTML : "";
  if (!window.io || !data.homes.length) return;
  var socket = io("/public", { transports: ["websocket", "polling"], auth: { homes: data.homes } });
  socket.on("connect", function () {
    note.textContent = "These results update by themselves when a home's vacancies change.";
  });
  socket.on("disconnect", function () {
    note.innerHTML = shownAt;  // as of when the page was made, with its Refresh link
  });
  socket.on("home", function (home) {
    var card = document.querySelector('.home-card[data-home-id="' + home.id + '"]');
    if (!card) return;
    var status = home.status;
    var words = home.status_text;
    var free = home.vacancies.some(function (v) { return !data.care || v.code === data.care; });
    if (status === "vacancies" && !free) {
      status = "full";
      words = "No vacancies for " + data.care_name;
    }
    card.className = "home-card status-" + status + " changed";
    var tag = card.querySelector(".tag");
    tag.className = "tag tag-" + status;
    tag.textContent = words;
    var kinds = card.querySelector(".home-kinds");
    kinds.textContent = "";
    if (home.vacancies.length) {
      kinds.appendChild(document.createTextNode("Vacancies for: "));
      home.vacancies.forEach(function (v) {
        var chip = document.createElement("span");
        chip.className = "chip has-beds" + (v.code === data.care ? " chosen" : "");
        chip.textContent = v.name + (v.beds === null ? "" : ": " + v.beds + (v.beds === 1 ? " bed" : " beds"));
        kinds.appendChild(chip);
      });
    } else {
      kinds.textContent = "Offers: " + home.kinds.map(function (k) { return k.name; }).join(", ") +
        (status === "full" ? "; no beds free now" : "");
    }
    var updated = card.querySelector(".home-updated");
    updated.textContent = "The home last confirmed this ";
    var when = document.createElement("time");
    when.className = "ago";
    when.setAttribute("datetime", home.confirmed_at);
    when.textContent = ago(home.confirmed_at);
    updated.appendChild(when);
    announce.textContent = home.name + ": " + words.toLowerCase() + ", confirmed just now.";
  });
})();
