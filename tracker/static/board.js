// The live board: a snapshot, then updates in seq order. See docs/board-events.md.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("board-data").textContent);
  var form = document.getElementById("filters");
  var rowsEl = document.getElementById("board-rows");
  var totalsEl = document.getElementById("totals");
  var statusEl = document.getElementById("live-status");

  var homes = new Map();      // id -> home, as in the snapshot, merged with updates
  var kinds = [];             // [{code, name}] in display order
  var seq = null;             // last seq applied; null until the first snapshot
  var early = [];             // updates that arrived before the first snapshot
  var pending = new Map();    // prev -> update received ahead of a gap
  var replayAskedAt = 0;
  var clockOffset = 0;        // server time minus this browser's time, in ms
  var flashing = new Set();
  var renderQueued = false;

  // ---- filters kept in the URL ---------------------------------------------------------
  function readFilters() {
    var p = new URLSearchParams(location.search);
    if (!p.has("from") && config.own_hospital_id) p.set("from", String(config.own_hospital_id));
    if (!p.has("region")) p.set("region", config.own_region_id ? String(config.own_region_id) : "all");
    return p;
  }
  function fillForm(p) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") el.checked = p.get(el.name) === "1";
      else if (p.has(el.name)) el.value = p.get(el.name);
    });
  }
  function formToUrl() {
    offerLocalities(form.elements.region.value);  // before reading: a locality of another region is dropped
    var p = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") { if (el.checked) p.set(el.name, "1"); }
      else if (el.value !== "") p.set(el.name, el.value);
    });
    if (!p.has("from")) p.set("from", "");
    var regionChanged = p.get("region") !== streamRegion();
    history.replaceState(null, "", "?" + p.toString());
    if (regionChanged) watch();
    linkExport();
    queueRender();
  }
  // The CSV link carries the filters on screen (without JS it downloads the default view).
  var exportLink = document.getElementById("export-link");
  function linkExport() { exportLink.href = exportLink.pathname + "?" + readFilters().toString(); }
  function streamRegion() { return readFilters().get("region"); }
  // Only the watched region's localities are offered (all of them when watching England).
  function offerLocalities(region) {
    var select = form.elements.locality;
    Array.prototype.forEach.call(select.options, function (o) {
      o.hidden = o.disabled = !!(o.dataset.region && region !== "all" && o.dataset.region !== region);
    });
    if (select.selectedOptions[0] && select.selectedOptions[0].disabled) select.value = "";
  }
  form.addEventListener("change", formToUrl);
  form.addEventListener("submit", function (e) { e.preventDefault(); formToUrl(); });
  fillForm(readFilters());
  offerLocalities(streamRegion());
  linkExport();
  var filtersBox = document.getElementById("filters-box");
  if (window.matchMedia("(min-width: 641px)").matches) filtersBox.open = true;  // folded on phones

  // ---- the socket --------------------------------------------------------------------
  var socket = io("/board", {
    transports: ["websocket", "polling"],
    // Called on every (re)connection: a board that has seen seq N asks for what came after it.
    auth: function (cb) {
      var region = streamRegion(), payload = { region: region === "all" ? "all" : parseInt(region, 10) };
      if (seq !== null) payload.since = seq;
      cb(payload);
    }
  });
  var watching = streamRegion();
  function watch() {  // another region: a different stream, so start again from a snapshot
    if (streamRegion() === watching) return;
    watching = streamRegion();
    seq = null; homes = new Map(); pending.clear(); early = [];
    rowsEl.replaceChildren();
    socket.disconnect().connect();
  }
  function setStatus(state, text) { statusEl.dataset.state = state; statusEl.textContent = text; }
  socket.on("connect", function () { setStatus("live", "Live"); });
  socket.on("disconnect", function (reason) {
    setStatus("reconnecting", "Reconnecting…");
    // The server ends a board when its sign-in ends (signed out elsewhere, disabled, new password);
    // socket.io does not retry after that by itself. Trying once shows "Signed out" if so.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.io.on("reconnect_attempt", function () {
    setStatus(navigator.onLine === false ? "offline" : "reconnecting", navigator.onLine === false ? "Offline" : "Reconnecting…");
  });
  socket.on("connect_error", function (err) {
    if (err && err.message && err.message.indexOf("Sign in") === 0) {
      setStatus("offline", "Signed out: reload the page to sign in");
      socket.disconnect();
    } else {
      setStatus(navigator.onLine === false ? "offline" : "reconnecting", navigator.onLine === false ? "Offline" : "Reconnecting…");
    }
  });
  window.addEventListener("offline", function () { setStatus("offline", "Offline"); });

  socket.on("snapshot", function (snap) {
    homes = new Map();
    snap.homes.forEach(function (h) { homes.set(h.id, h); });
    kinds = snap.kinds;
    seq = snap.seq;
    clockOffset = Date.parse(snap.server_time) - Date.now();
    config.stale_after_s = snap.stale_after_s;
    config.expire_after_s = snap.expire_after_s;
    pending.clear();
    early.splice(0).forEach(onUpdate);
    queueRender();
  });

  socket.on("update", onUpdate);
  socket.on("updates", function (batch) { batch.updates.forEach(onUpdate); });
  socket.on("tick", function (t) { if (seq !== null && t.seq > seq) awaitGap(); });
  // A home that stopped answering reminders (outside the seq chain; an update clears it).
  socket.on("flag", function (f) { setFlag(f.home_id, f.not_answering_since); });
  socket.on("flags", function (f) { Object.keys(f.homes).forEach(function (id) { setFlag(Number(id), f.homes[id]); }); });
  function setFlag(id, since) {
    var home = homes.get(id);
    if (!home) return;
    home.not_answering_since = since;
    queueRender();
  }

  function onUpdate(ev) {
    if (seq === null) { early.push(ev); return; }
    if (ev.seq <= seq) return;                 // already applied (a replay can overlap a broadcast)
    if (ev.prev !== seq) {                     // a gap: hold this one until what it follows arrives
      pending.set(ev.prev, ev);
      awaitGap();
      return;
    }
    apply(ev);
    while (pending.has(seq)) { var next = pending.get(seq); pending.delete(seq); apply(next); }
  }

  // Updates published by different web processes can arrive out of order by a coalescing window
  // or two. Give the missing one a moment to arrive before asking the server for it.
  var REORDER_WAIT_MS = 1000, gapTimer = null, gapSince = null;
  function awaitGap() {
    if (gapTimer) return;
    gapSince = seq;
    gapTimer = setTimeout(function () {
      gapTimer = null;
      if (seq === gapSince) askReplay();      // nothing moved: it was lost, not late
      else if (pending.size) awaitGap();
    }, REORDER_WAIT_MS);
  }

  function apply(ev) {
    seq = ev.seq;
    var home = homes.get(ev.home.id);
    if (!home) { askReplay(true); return; }   // a home added since our snapshot: take a new one
    if (home.seq != null && ev.home.seq <= home.seq) return;
    Object.assign(home, ev.home);
    flashing.add(home.id);
    setTimeout(function () { flashing.delete(home.id); queueRender(); }, 4000);
    queueRender();
  }

  function askReplay(fresh) {
    var now = Date.now();
    if (now - replayAskedAt < 2000) return;
    replayAskedAt = now;
    socket.emit("replay", { since: fresh ? null : seq });
  }

  // ---- rendering ---------------------------------------------------------------------
  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(function () { renderQueued = false; render(); });
  }
  setInterval(queueRender, 30000);  // ages move on even when nothing changes

  function freshness(home, now) {
    if (!home.confirmed_at) return "stale";
    var age = (now - Date.parse(home.confirmed_at)) / 1000;
    if (age >= config.expire_after_s) return "stale";
    if (age >= config.stale_after_s) return "ageing";
    return "fresh";
  }
  function ageText(home, now) {
    if (!home.confirmed_at) return "never";
    var s = Math.max(0, (now - Date.parse(home.confirmed_at)) / 1000);
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    var d = Math.floor(s / 86400);
    return d + (d === 1 ? " day ago" : " days ago");
  }
  function localTime(iso) {
    return new Date(iso).toLocaleString("en-GB", { timeZone: "Europe/London", weekday: "short", hour: "2-digit", minute: "2-digit" });
  }
  function distanceKm(home, origin) {
    if (!origin || home.lat == null) return null;
    var r = Math.PI / 180, dLat = (home.lat - origin.lat) * r, dLon = (home.lon - origin.lon) * r;
    var a = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(origin.lat * r) * Math.cos(home.lat * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 6371 * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
  }
  // Beds a coordinator can count on: open, verified, and of the kind asked for.
  function bedsFree(home, kind, usable) {
    if (!usable) return 0;
    var total = 0;
    Object.keys(home.kinds).forEach(function (code) {
      if (!kind || code === kind) total += home.kinds[code].available || 0;
    });
    return total;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function render() {
    if (seq === null) return;
    var p = readFilters();
    var kind = p.get("kind") || "", locality = p.get("locality") || "";
    var onlyFree = p.get("vacancies") === "1", hideStale = p.get("hide_stale") === "1";
    var maxKm = parseFloat(p.get("max_km") || ""), sort = p.get("sort") || "distance";
    var opt = form.elements.from.selectedOptions[0];
    var origin = opt && opt.value ? { lat: parseFloat(opt.dataset.lat), lon: parseFloat(opt.dataset.lon) } : null;
    var now = Date.now() + clockOffset;

    var shown = [];
    homes.forEach(function (h) {
      var fresh = freshness(h, now);
      var usable = h.admissions === "open" && fresh !== "stale";
      var row = { home: h, fresh: fresh, usable: usable, km: distanceKm(h, origin), beds: bedsFree(h, kind, usable) };
      if (kind && !h.kinds[kind]) return;
      if (locality && h.locality !== locality) return;
      if (hideStale && fresh === "stale") return;
      if (onlyFree && row.beds === 0) return;
      if (!isNaN(maxKm) && (row.km === null || row.km > maxKm)) return;
      shown.push(row);
    });
    shown.sort(function (a, b) {
      if (sort === "beds" && b.beds !== a.beds) return b.beds - a.beds;
      if (sort === "freshness") return (Date.parse(b.home.confirmed_at) || 0) - (Date.parse(a.home.confirmed_at) || 0);
      if (a.km !== null && b.km !== null && a.km !== b.km) return a.km - b.km;
      return a.home.name.localeCompare(b.home.name);
    });

    var totals = {};
    var body = document.createDocumentFragment();
    shown.forEach(function (r) {
      var h = r.home, tr = el("tr", "fresh-" + r.fresh + (h.admissions === "closed" ? " closed" : "") + (flashing.has(h.id) ? " flash" : ""));
      tr.dataset.homeId = h.id;

      var name = el("td", "home");
      name.appendChild(el("strong", null, h.name));
      name.appendChild(el("span", "sub", h.locality + (h.phone ? " · " : "")));
      if (h.phone) { var a = el("a", null, h.phone); a.href = "tel:" + h.phone.replace(/\s/g, ""); name.lastChild.appendChild(a); }
      if (h.note) name.appendChild(el("span", "note", h.note));
      tr.appendChild(name);

      tr.appendChild(el("td", "distance", r.km === null ? "–" : r.km.toFixed(1) + " km"));

      var beds = el("td", "beds");
      kinds.forEach(function (k) {
        var offer = h.kinds[k.code];
        if (!offer) return;
        var chip = el("span", "chip" + (kind === k.code ? " chosen" : "") + (offer.available > 0 && r.usable ? " has-beds" : ""));
        chip.dataset.kind = k.code;
        chip.title = k.name;
        chip.appendChild(el("abbr", null, k.code));
        chip.appendChild(document.createTextNode(" " + (offer.available == null ? "?" : offer.available)));
        chip.appendChild(el("span", "cap", "/" + offer.capacity));
        beds.appendChild(chip);
        if (r.usable && offer.available) totals[k.code] = (totals[k.code] || 0) + offer.available;
      });
      if (r.fresh === "stale") beds.appendChild(el("span", "unverified", "Unverified: not counted"));
      tr.appendChild(beds);

      var adm = el("td", "admissions");
      if (h.admissions === "open") adm.textContent = "Open";
      else {
        adm.appendChild(el("strong", null, "Closed"));
        adm.appendChild(el("span", "sub", (h.closed_reason || "") + (h.reopens_on ? " · reopens " + h.reopens_on : "")));
      }
      tr.appendChild(adm);

      var age = el("td", "updated");
      age.appendChild(el("span", "age " + r.fresh, ageText(h, now)));
      if (h.confirmed_via) age.appendChild(el("span", "sub", "by " + (config.channel_words[h.confirmed_via] || h.confirmed_via)));
      if (h.not_answering_since) age.appendChild(el("span", "not-answering", "Not answering since " + localTime(h.not_answering_since)));
      tr.appendChild(age);
      body.appendChild(tr);
    });
    if (!shown.length) {
      var empty = el("tr"), td = el("td", null, "No homes match these filters.");
      td.colSpan = 5; empty.appendChild(td); body.appendChild(empty);
    }
    rowsEl.replaceChildren(body);

    var parts = kinds.filter(function (k) { return totals[k.code]; }).map(function (k) { return k.name + " " + totals[k.code]; });
    totalsEl.textContent = shown.length + (shown.length === 1 ? " home" : " homes") + " shown. Beds free (open, verified): " + (parts.length ? parts.join(" · ") : "none");
  }
})();
