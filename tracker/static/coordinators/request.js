// One bed request's page, kept current. The server renders it; this script fetches the request again
// (/requests/<id>.json) on every "changed" and on every (re)connect, so nothing is missed after a
// drop, and swaps in the server's new rendering of what changed. See docs/requests.md.
(function () {
  "use strict";
  var last = JSON.parse(document.getElementById("request-data").textContent);
  var statusEl = document.getElementById("live-status");
  var bannerEl = document.getElementById("live-banner");
  var announceEl = document.getElementById("request-announce");
  var served = new Map();  // each live part's id -> the server's HTML for it, as last applied
  document.querySelectorAll("[data-live-part]").forEach(function (el) { served.set(el.id, el.outerHTML); });
  var lostAt = null, signedOut = false, chain = Promise.resolve();
  var WORDS = { yes: "YES", no: "NO" };

  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString("en-GB", { timeZone: "Europe/London", hour: "2-digit", minute: "2-digit" });
  }
  function show(state) {
    statusEl.hidden = false;
    statusEl.dataset.state = state;
    statusEl.textContent = { live: "Live", offline: "Not live", connecting: "Connecting…" }[state];
    document.body.dataset.live = state === "live" ? "yes" : state === "offline" ? "no" : "connecting";
    bannerEl.replaceChildren();
    if (state !== "offline" || lostAt === null) return;
    var head = document.createElement("strong");
    head.textContent = "Not live since " + clockTime(lostAt);
    bannerEl.appendChild(head);
    bannerEl.appendChild(document.createTextNode(signedOut
      ? " — you were signed out; answers may have come in since. "
      : " — answers may have come in since; reconnecting…"));
    if (signedOut) {
      var again = document.createElement("a");
      again.href = location.href;
      again.textContent = "Sign in again";
      bannerEl.appendChild(again);
    }
  }
  function lose() {
    if (lostAt === null) lostAt = Date.now();
    show("offline");
  }

  // What changed between two versions of the request, in words read out to the coordinator.
  function news(before, after) {
    var said = [], old = new Map(before.homes.map(function (h) { return [h.asked_id, h]; }));
    after.homes.forEach(function (h) {
      var seen = old.has(h.asked_id) ? old.get(h.asked_id).messages.length : 0;
      h.messages.slice(seen).forEach(function (m) {
        if (!m.from_home) return;
        if (m.verdict === "question") said.push(h.home.name + " asks: " + m.text);
        else said.push(h.home.name + " answered " + (WORDS[m.verdict] || m.verdict) + (m.text ? ": " + m.text : "") + ".");
      });
    });
    if (before.state !== after.state) {
      said.push({ chosen: "A bed was chosen: this request has closed.", expired: "This request has expired.",
                  cancelled: "This request was cancelled." }[after.state] || "");
    }
    return said.filter(Boolean);
  }

  // Replace each live part the server now renders differently, keeping what the person was typing.
  function apply(doc) {
    served.forEach(function (html, id) {
      var fresh = doc.getElementById(id), here = document.getElementById(id);
      if (!fresh || !here || fresh.outerHTML === html) return;
      served.set(id, fresh.outerHTML);
      var node = document.importNode(fresh, true);
      here.querySelectorAll("textarea[id], select[id]").forEach(function (field) {
        var twin = node.querySelector("#" + CSS.escape(field.id));
        if (twin) twin.value = field.value;
      });
      here.querySelectorAll("details[open]").forEach(function (d, i) {
        var twin = node.querySelectorAll("details")[i];
        if (twin) twin.open = true;
      });
      var focused = here.contains(document.activeElement) && document.activeElement.id;
      here.replaceWith(node);
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      if (node.classList.contains("home-card")) node.classList.add("changed");
    });
  }

  function fetchOk(url, type) {
    return fetch(url, { cache: "no-store", headers: { Accept: type }, credentials: "same-origin" }).then(function (r) {
      // A sign-in that ended sends the fetch to the sign-in page.
      if (!r.ok || r.redirected) throw new Error("refused");
      return type === "application/json" ? r.json() : r.text();
    });
  }
  // One refresh at a time, in order: a "changed" during a refresh is answered by the next one.
  function refresh() {
    var run = chain.then(function () {
      return fetchOk(location.pathname + ".json", "application/json").then(function (now) {
        if (JSON.stringify(now) === JSON.stringify(last)) return;
        return fetchOk(location.pathname, "text/html").then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (!doc.getElementById("request-homes")) throw new Error("not the request page");
          apply(doc);
          var said = news(last, now);
          last = now;
          if (said.length) announceEl.textContent = said.join(" ");
        });
      });
    });
    chain = run.catch(function () {});  // a failed refresh does not stop the next
    return run;
  }

  var socket = io("/requests", { transports: ["websocket", "polling"] });
  show("connecting");
  socket.on("connect", function () {
    socket.emit("watch", { request_id: last.id }, function (answer) {
      if (!answer || !answer.ok) { lose(); return; }
      // Watching first, then fetching: a change committed meanwhile is fetched twice, never missed.
      refresh().then(function () { lostAt = null; show("live"); }, function () { lose(); });
    });
  });
  socket.on("changed", function (message) {
    if (message && message.id === last.id) refresh().catch(lose);
  });
  socket.on("disconnect", function (reason) {
    lose();
    // The server ends the connection when the sign-in ends; trying once shows "signed out" if so.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", function (err) {
    if (err && err.message && err.message.indexOf("Sign in") === 0) {
      signedOut = true;
      socket.disconnect();
    }
    lose();
  });
})();
