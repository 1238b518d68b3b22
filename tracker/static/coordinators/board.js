// The live board: a snapshot, then updates in seq order. See docs/board-events.md.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("board-data").textContent);
  var form = document.getElementById("filters");
  var rowsEl = document.getElementById("board-rows");
  var totalsEl = document.getElementById("totals");
  var statusEl = document.getElementById("live-status");
  document.querySelectorAll("[data-needs-js]").forEach(function (e) { e.hidden = false; });
  // The column headings stick just below the header (which sticks too), however tall it wraps.
  var header = document.querySelector(".site-header");
  new ResizeObserver(function () {
    document.documentElement.style.setProperty("--board-header-height", header.offsetHeight + "px");
  }).observe(header);

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
    if (p.has("hide_stale")) {  // the filter's old name, in links saved before it was renamed
      if (p.get("hide_stale") === "1") p.set("hide_unverified", "1");
      p.delete("hide_stale");
    }
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
    socket.disconnect();
    lostAt = null; caughtUp = false;          // a new stream is loading, not a lost connection
    showLiveness();
    socket.connect();
  }
  // ---- live or not: what the person looking is told ------------------------------------
  // Live = connected, caught up (the server's tick after every catch-up, or any later tick, is not
  // ahead of what is shown) and heard from within LATE_TICKS ticks. Anything else is "not live"
  // everywhere on screen: a banner that stays in view, dimmed rows, ages as times, not "x min ago".
  var PROBE_TICKS = 2, LATE_TICKS = 3, RECOVERED_MS = 5000;
  var bannerEl = document.getElementById("live-banner");
  var connected = false, caughtUp = false, signedOut = false;
  var lastHeard = Date.now();   // the last message from the server (this browser's clock)
  var lostAt = null;            // when what is shown was last known current; null while live
  var probed = false, recoveredTimer = null;

  function isLive() { return lostAt === null && caughtUp; }
  function heard() { lastHeard = Date.now(); probed = false; }
  function lose() {
    caughtUp = false;
    if (lostAt === null) lostAt = lastHeard;
    showLiveness();
  }
  function caughtUpNow() {
    var recovered = lostAt !== null && seq !== null;
    caughtUp = true; lostAt = null;
    showLiveness(recovered);
  }
  function showLiveness(recovered) {
    var live = isLive(), state = live ? "live" : lostAt !== null ? "offline" : "connecting";
    document.body.dataset.live = live ? "yes" : lostAt !== null ? "no" : "connecting";
    statusEl.hidden = false;
    statusEl.dataset.state = state;
    statusEl.textContent = { live: "Live", offline: "Not live", connecting: "Connecting…" }[state];
    clearTimeout(recoveredTimer);
    bannerEl.className = "live-banner";
    bannerEl.replaceChildren();
    if (live && recovered) {
      bannerEl.classList.add("recovered");
      bannerEl.textContent = "Live again — caught up";
      recoveredTimer = setTimeout(function () { bannerEl.replaceChildren(); }, RECOVERED_MS);
    } else if (!live && lostAt !== null) {
      var head = seq === null ? "Not live" : "Not live since " + clockTime(lostAt + clockOffset);
      var tail = signedOut ? " — you were signed out; numbers may have changed. "
        : navigator.onLine === false ? " — this device is offline; numbers may have changed. Reconnecting when it is back online…"
        : seq === null ? " — cannot reach the server; retrying…"
        : " — numbers may have changed; reconnecting…";
      bannerEl.appendChild(el("strong", null, head));
      bannerEl.appendChild(document.createTextNode(tail));
      if (signedOut) { var again = el("a", null, "Sign in again"); again.href = location.href; bannerEl.appendChild(again); }
    }
    queueRender();
  }
  showLiveness();
  // Not live yet on connect: only once caught up (socket.io may even deliver the catch-up first).
  socket.on("connect", function () { connected = true; heard(); });
  socket.on("disconnect", function (reason) {
    connected = false; lose();
    // The server ends a board when its sign-in ends (signed out elsewhere, disabled, new password);
    // socket.io does not retry after that by itself. Trying once shows "Signed out" if so.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", function (err) {
    if (err && err.message && err.message.indexOf("Sign in") === 0) {
      signedOut = true;
      socket.disconnect();
    }
    if (lostAt === null) lostAt = lastHeard;
    showLiveness();
  });
  window.addEventListener("offline", function () { if (lostAt !== null) showLiveness(); else lose(); });
  window.addEventListener("online", function () {
    if (lostAt === null) return;
    showLiveness();
    if (connected) socket.emit("replay", { since: seq });  // the socket may have outlived the blip: ask if we missed anything
  });
  // A connection can die without saying so (a sleeping laptop, a proxy, a hung server): the tick
  // every tick_s seconds is the heartbeat. After two quiet ticks ask the server (a replay answers
  // with a tick, so a board stays live even if ticks stop); after three, stop claiming to be live
  // and connect afresh.
  setInterval(function () {
    if (!connected) return;
    var quiet = Date.now() - lastHeard, tick = config.tick_s * 1000;
    if (quiet > LATE_TICKS * tick) {
      lose();
      socket.disconnect().connect();
    } else if (quiet > PROBE_TICKS * tick && !probed) {
      probed = true;
      socket.emit("replay", { since: seq });
    }
  }, 1000);

  socket.on("snapshot", function (snap) {
    heard();
    homes = new Map();
    snap.homes.forEach(function (h) { homes.set(h.id, h); });
    kinds = snap.kinds;
    seq = snap.seq;
    clockOffset = Date.parse(snap.server_time) - Date.now();
    config.tick_s = snap.tick_s;
    pending.clear();
    early.splice(0).forEach(onUpdate);
    queueRender();
  });

  socket.on("update", function (ev) { heard(); onUpdate(ev); });
  socket.on("updates", function (batch) { heard(); batch.updates.forEach(onUpdate); });
  socket.on("tick", function (t) {
    heard();
    if (seq === null) return;
    if (t.seq > seq) awaitGap();
    else if (!isLive()) caughtUpNow();
  });
  // A home that stopped answering reminders (outside the seq chain; an update clears it).
  socket.on("flag", function (f) { heard(); setFlag(f.home_id, f.not_answering_since); });
  socket.on("flags", function (f) { heard(); Object.keys(f.homes).forEach(function (id) { setFlag(Number(id), f.homes[id]); }); });
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

  // The server says when each home's data stops being fresh and verified (tracker/availability.py):
  // the board only compares those times with its clock.
  function freshness(home, now) {
    if (!home.unverified_at || now >= Date.parse(home.unverified_at)) return "unverified";
    if (now >= Date.parse(home.ageing_at)) return "ageing";
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
  // A note says how old it is; one past its note_old_at (or of unknown age) is marked old, never current.
  function noteEl(h, now) {
    var at = h.note_at ? Date.parse(h.note_at) : NaN;
    var old = isNaN(at) || !h.note_old_at || now >= Date.parse(h.note_old_at);
    var age = isNaN(at) ? "date unknown" : ageText({ confirmed_at: h.note_at }, now);
    var text = old ? "Old note (" + age + "): " : (age === "just now" ? "Note written just now: " : "Note from " + age + ": ");
    return el("span", "note" + (old ? " note-old" : ""), text + h.note);
  }
  function localTime(iso) {
    return new Date(iso).toLocaleString("en-GB", { timeZone: "Europe/London", weekday: "short", hour: "2-digit", minute: "2-digit" });
  }
  // Dates and times as people write them, in UK time whatever the browser's zone (as tracker/timefmt.py).
  var LONDON = "Europe/London";
  var londonFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: LONDON, weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });
  function londonParts(ms) {
    var o = {};
    londonFormat.formatToParts(new Date(ms)).forEach(function (p) { o[p.type] = p.value; });
    return o;
  }
  function londonDay(ms) { return new Date(ms).toLocaleDateString("en-CA", { timeZone: LONDON }); }  // 2026-11-30
  function clockTime(ms) {  // "14:05" today, "Mon 23 Nov 14:05" before
    var o = londonParts(ms), hm = o.hour + ":" + o.minute;
    if (londonDay(ms) === londonDay(Date.now() + clockOffset)) return hm;
    return o.weekday.slice(0, 3) + " " + o.day + " " + o.month.slice(0, 3) + " " + hm;
  }
  function exactTime(iso) {  // "14:05 on Monday 23 November 2026"
    var o = londonParts(Date.parse(iso));
    return o.hour + ":" + o.minute + " on " + o.weekday + " " + o.day + " " + o.month + " " + o.year;
  }
  function dayMonth(isoDate, now) {  // a calendar date ("2026-12-08" -> "8 Dec"): no time zone to convert
    var parts = isoDate.split("-").map(Number), day = Date.UTC(parts[0], parts[1] - 1, parts[2]);
    var month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][parts[1] - 1];
    var far = Math.abs(day - Date.parse(londonDay(now))) > 180 * 86400000;  // the year, when it is not obvious
    return parts[2] + " " + month + (far ? " " + parts[0] : "");
  }
  function reopens(isoDate, now) {
    var today = londonDay(now);
    if (isoDate === today) return "reopens today";
    return (isoDate < today ? "was due to reopen " : "reopens ") + dayMonth(isoDate, now);
  }
  function distanceKm(home, origin) {
    if (!origin || home.lat == null) return null;
    var r = Math.PI / 180, dLat = (home.lat - origin.lat) * r, dLon = (home.lon - origin.lon) * r;
    var a = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(origin.lat * r) * Math.cos(home.lat * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 6371 * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
  }
  // Beds a coordinator can count on: open, verified, of the kind asked for, less those held
  // (availability.countable; a hold counts until its `until`, as availability.held does).
  function heldNow(home, code, now) {
    return (home.holds || []).filter(function (x) { return x.kind === code && Date.parse(x.until) > now; });
  }
  function countableBeds(home, code, now) {
    return Math.max(0, (home.kinds[code].available || 0) - heldNow(home, code, now).length);
  }
  function bedsFree(home, kind, usable, now) {
    if (!usable) return 0;
    var total = 0;
    Object.keys(home.kinds).forEach(function (code) {
      if (!kind || code === kind) total += countableBeds(home, code, now);
    });
    return total;
  }

  // "1 NUR held for Royal Cornwall until 16:00": one line per kind, hospital and time, for the holds
  // the viewer cannot end (each of theirs has its own line, with its buttons: heldRow).
  function heldLines(home, now) {
    var lines = {};
    standingHolds(home, now).forEach(function (x) {
      if (mayEnd(x)) return;
      var key = heldText(x);
      lines[key] = (lines[key] || 0) + 1;
    });
    return Object.keys(lines).map(function (key) { return lines[key] + " " + key; });
  }
  function standingHolds(home, now) {
    return (home.holds || []).filter(function (x) { return Date.parse(x.until) > now; });
  }
  function heldText(x) { return x.kind + " held for " + x.hospital + " until " + clockTime(Date.parse(x.until)); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // How old a home's figures are. While the board is live: "5 min ago", coloured by freshness.
  // While not: the time they were confirmed, uncoloured, since they may have been replaced since.
  // The exact moment is in the title (hover) and one tap away.
  var exactShown = new Set();
  function ageBadge(home, fresh, now, live) {
    if (!home.confirmed_at) return el("span", "age " + fresh, "never");
    var button = el("button", "age-button");
    button.type = "button";
    button.dataset.homeId = home.id;
    button.setAttribute("aria-expanded", exactShown.has(home.id) ? "true" : "false");
    var time = el("time", "age " + (live ? fresh : "as-of"), live ? ageText(home, now) : "at " + clockTime(Date.parse(home.confirmed_at)));
    time.dateTime = home.confirmed_at;
    time.title = exactTime(home.confirmed_at);
    button.appendChild(time);
    var wrap = document.createDocumentFragment();
    wrap.appendChild(button);
    if (exactShown.has(home.id)) wrap.appendChild(el("span", "sub exact", exactTime(home.confirmed_at)));
    return wrap;
  }
  rowsEl.addEventListener("click", function (e) {
    var button = e.target.closest(".age-button");
    if (!button) return;
    var id = Number(button.dataset.homeId);
    if (!exactShown.delete(id)) exactShown.add(id);
    render();
    var again = rowsEl.querySelector('.age-button[data-home-id="' + id + '"]');
    if (again) again.focus();
  });

  // ---- holding a bed from the board, and ending a hold (docs/holds.md) ---------------------
  // The buttons only ask the server: what changed arrives as an ordinary update and is drawn from it.
  var holdConfig = config.holds || {};
  var holdStatusEl = document.getElementById("hold-status");
  var asking = null;            // "home:kind" whose Hold is asking for confirmation
  var askingHours = "";         // the duration chosen in that confirmation: "" is HOLD_DEFAULT
  var inFlight = new Set();     // keys of the buttons whose request has not been answered yet
  var holdErrors = new Map();   // home id -> the server's refusal, shown in that home's row
  function kindName(code) {
    var k = kinds.filter(function (x) { return x.code === code; })[0];
    return k ? k.name.toLowerCase() : code;
  }
  function duration(minutes) {
    if (minutes % 60 === 0) return minutes / 60 + " h";
    return (minutes > 60 ? Math.floor(minutes / 60) + " h " : "") + (minutes % 60) + " min";
  }
  function hoursText(minutes) {
    if (minutes % 60) return duration(minutes);
    return minutes / 60 + (minutes === 60 ? " hour" : " hours");
  }
  // The durations offered: HOLD_DEFAULT (sent as no `hours`) and the config's whole hours, shortest first.
  function durationChoices() {
    var choices = [{ value: "", minutes: holdConfig.default_minutes }];
    (holdConfig.hours || []).forEach(function (h) {
      if (h * 60 !== holdConfig.default_minutes) choices.push({ value: String(h), minutes: h * 60 });
    });
    return choices.sort(function (a, b) { return a.minutes - b.minutes; });
  }
  function mayEnd(hold) { return holdConfig.admin || (hold.hospital_id != null && hold.hospital_id === config.own_hospital_id); }
  // aria-disabled rather than disabled while in flight: the button keeps the keyboard's focus.
  function holdButton(text, act, key, home, label) {
    var b = el("button", "hold-button", text);
    b.type = "button";
    b.dataset.holdAct = act; b.dataset.key = key; b.dataset.home = home.id;
    if (label) b.setAttribute("aria-label", label);
    if (inFlight.has(key)) b.setAttribute("aria-disabled", "true");
    return b;
  }
  function holdControls(home, code) {  // beside a chip with countable beds
    var key = home.id + ":" + code, bed = kindName(code) + " bed at " + home.name;
    if (asking !== key) return holdButton("Hold", "ask", key, home, "Hold one " + bed);
    var box = el("span", "hold-confirm"), question = el("span", "hold-question");
    var forWhom = holdConfig.admin && chosenHospital() ? " for " + chosenHospital().name : "";
    question.appendChild(document.createTextNode("Hold 1 " + code + " bed" + forWhom + " for "));
    var hours = el("select", "hold-hours");
    hours.dataset.holdAct = "hours"; hours.dataset.key = key;
    hours.setAttribute("aria-label", "How long to hold the " + bed);
    durationChoices().forEach(function (c) {
      var o = el("option", null, hoursText(c.minutes));
      o.value = c.value;
      hours.appendChild(o);
    });
    hours.value = askingHours;
    question.appendChild(hours);
    question.appendChild(document.createTextNode("?"));
    box.appendChild(question);
    box.appendChild(holdButton("Yes", "place", key, home, "Yes, hold one " + bed));
    box.appendChild(holdButton("Cancel", "cancel", key, home));
    return box;
  }
  function heldRow(home, hold) {  // one of the viewer's holds, with the two ways it ends
    var row = el("span", "held-row"), key = "hold:" + hold.id;
    var what = kindName(hold.kind) + " bed held at " + home.name + " until " + clockTime(Date.parse(hold.until));
    row.appendChild(el("span", "held", "1 " + heldText(hold)));
    row.appendChild(holdButton("Admitted", "admit", key, home, "Admitted: the " + what));
    row.appendChild(holdButton("Release", "release", key, home, "Release the " + what));
    return row;
  }
  function holdCell(beds, home, now) {  // the beds cell's held lines, buttons and refusal
    standingHolds(home, now).filter(mayEnd).forEach(function (x) { beds.appendChild(heldRow(home, x)); });
    heldLines(home, now).forEach(function (line) { beds.appendChild(el("span", "held", line)); });
    if (holdErrors.has(home.id)) beds.appendChild(el("span", "hold-error", holdErrors.get(home.id)));
  }
  rowsEl.addEventListener("click", function (e) {
    var b = e.target.closest("[data-hold-act]");
    if (!b || b.getAttribute("aria-disabled") === "true") return;
    var act = b.dataset.holdAct, key = b.dataset.key, home = Number(b.dataset.home);
    if (act === "hours") return;  // its own "change" below
    if (act === "ask") {
      if (!hospitalChosen(home)) return;
      asking = key; askingHours = ""; holdErrors.delete(home); render(); focusHold("place", key);
    }
    else if (act === "cancel") { asking = null; render(); focusHold("ask", key); }
    else if (act === "place") placeHold(key, home);
    else send(key, home, "/board/holds/" + key.split(":")[1] + "/" + act, {});
  });
  rowsEl.addEventListener("change", function (e) {
    if (e.target.dataset.holdAct === "hours") askingHours = e.target.value;
  });
  function focusHold(act, key) {
    var b = rowsEl.querySelector('[data-hold-act="' + act + '"][data-key="' + key + '"]');
    if (b) b.focus();
    return !!b;
  }
  function placeHold(key, home) {
    var fields = { home_id: home, kind: key.split(":")[1] };
    if (holdConfig.admin) {  // an admin names the hospital
      if (!hospitalChosen(home)) return;
      fields.hospital_id = chosenHospital().id;
    }
    if (askingHours) fields.hours = askingHours;
    send(key, home, "/board/holds", fields, function () { if (asking === key) asking = null; });
  }
  function send(key, home, url, fields, done) {
    var token = document.querySelector("input[name=csrf_token]");
    inFlight.add(key); holdErrors.delete(home); holdStatusEl.textContent = "";
    render();
    fetch(url, {
      method: "POST", credentials: "same-origin", body: new URLSearchParams(fields),
      headers: { "X-CSRFToken": token ? token.value : "" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.ok) { if (done) done(); return; }
        refuse(home, body.error || "That was not done (error " + r.status + "): try again.");
      });
    }, function () {
      refuse(home, "No answer from the server: check the board before trying again.");
    }).then(function () { inFlight.delete(key); render(); });
  }
  // An administrator holds for the hospital chosen in "Hold beds for" (remembered on this browser);
  // one with a hospital of their own starts with it.
  var hospitalSelect = document.getElementById("hold-hospital");
  var hospitalError = document.getElementById("hold-hospital-error");
  var HOSPITAL_KEY = "board.holdHospital";
  function remembered() {
    try { return localStorage.getItem(HOSPITAL_KEY); } catch (e) { return null; }  // storage may be off
  }
  if (hospitalSelect) {
    var start = remembered() || (config.own_hospital_id ? String(config.own_hospital_id) : "");
    hospitalSelect.value = start;
    if (hospitalSelect.value !== start) hospitalSelect.value = "";  // a hospital since removed
    hospitalSelect.addEventListener("change", function () {
      try { localStorage.setItem(HOSPITAL_KEY, hospitalSelect.value); } catch (e) { /* kept for this page only */ }
      hospitalError.hidden = true; hospitalError.textContent = "";
      hospitalSelect.removeAttribute("aria-invalid");
      queueRender();  // an open confirmation names the hospital
    });
  }
  function chosenHospital() {
    var o = hospitalSelect && hospitalSelect.selectedOptions[0];
    return o && o.value ? { id: o.value, name: o.textContent } : null;
  }
  function hospitalChosen(home) {
    if (!holdConfig.admin || chosenHospital()) return true;
    asking = null;
    refuse(home, "Choose the hospital to hold this bed for first, in “Hold beds for” above the table.");
    hospitalError.textContent = "Choose a hospital here, then press Hold again.";
    hospitalError.hidden = false;
    hospitalSelect.setAttribute("aria-invalid", "true");
    render();
    hospitalSelect.focus();
    return false;
  }
  function refuse(home, message) {
    holdErrors.set(home, message);
    var h = homes.get(home);
    // Read out (it is shown in the row too), naming the home when the message does not.
    holdStatusEl.textContent = (h && message.indexOf(h.name) < 0 ? h.name + ": " : "") + message;
  }

  function render() {
    if (seq === null) return;
    // The rows are drawn afresh: the hold button that had the focus gets it back.
    var focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.holdAct
      ? document.activeElement : null;
    var p = readFilters();
    var kind = p.get("kind") || "", locality = p.get("locality") || "";
    var onlyFree = p.get("vacancies") === "1", hideUnverified = p.get("hide_unverified") === "1";
    var maxKm = parseFloat(p.get("max_km") || ""), sort = p.get("sort") || "distance";
    var opt = form.elements.from.selectedOptions[0];
    var origin = opt && opt.value ? { lat: parseFloat(opt.dataset.lat), lon: parseFloat(opt.dataset.lon) } : null;
    var now = Date.now() + clockOffset, live = lostAt === null;  // a first snapshot is current before its tick

    var shown = [];
    homes.forEach(function (h) {
      var fresh = freshness(h, now);
      var usable = h.admissions === "open" && fresh !== "unverified";  // availability.counts
      var row = { home: h, fresh: fresh, usable: usable, km: distanceKm(h, origin), beds: bedsFree(h, kind, usable, now) };
      if (kind && !h.kinds[kind]) return;
      if (locality && h.locality !== locality) return;
      if (hideUnverified && fresh === "unverified") return;
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
      if (h.note) name.appendChild(noteEl(h, now));
      tr.appendChild(name);

      tr.appendChild(el("td", "distance", r.km === null ? "–" : r.km.toFixed(1) + " km"));

      var beds = el("td", "beds");
      kinds.forEach(function (k) {
        var offer = h.kinds[k.code];
        if (!offer) return;
        var free = offer.available == null ? null : countableBeds(h, k.code, now);
        var chip = el("span", "chip" + (kind === k.code ? " chosen" : "") + (free > 0 && r.usable ? " has-beds" : ""));
        chip.dataset.kind = k.code;
        chip.title = k.name;
        chip.appendChild(el("abbr", null, k.code));
        chip.appendChild(document.createTextNode(" " + (free == null ? "?" : free)));
        chip.appendChild(el("span", "cap", "/" + offer.capacity));
        beds.appendChild(chip);
        if (holdConfig.may_place && r.usable && free > 0) beds.appendChild(holdControls(h, k.code));
        if (r.usable && free && (!kind || kind === k.code)) totals[k.code] = (totals[k.code] || 0) + free;
      });
      holdCell(beds, h, now);
      if (r.fresh === "unverified") beds.appendChild(el("span", "not-counted", "Unverified: not counted"));
      tr.appendChild(beds);

      var adm = el("td", "admissions");
      if (h.admissions === "open") adm.textContent = "Open";
      else {
        adm.appendChild(el("strong", null, "Closed"));
        adm.appendChild(el("span", "sub", [h.closed_reason, h.reopens_on && reopens(h.reopens_on, now)].filter(Boolean).join(" · ")));
      }
      tr.appendChild(adm);

      var age = el("td", "updated");
      age.appendChild(ageBadge(h, r.fresh, now, live));
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
    if (focused && !focusHold(focused.dataset.holdAct, focused.dataset.key)) focusHold("ask", focused.dataset.key);

    var parts = kinds.filter(function (k) { return totals[k.code]; }).map(function (k) { return k.name + " " + totals[k.code]; });
    totalsEl.textContent = (live ? "" : "As of " + clockTime((lostAt || lastHeard) + clockOffset) + ": ") + shown.length + (shown.length === 1 ? " home" : " homes") + " shown. Beds free (open, verified): " + (parts.length ? parts.join(" · ") : "none");
  }
})();
