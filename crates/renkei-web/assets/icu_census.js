// Live census: rows arrive over the WebSocket (/icu/ws) and replace the server-rendered
// ones; beds re-sort by acuity; a bed whose newest value is older than two sampling
// intervals is marked stale (checked every second against the server's clock).
(function () {
  "use strict";
  var table = document.getElementById("census");
  if (!table) return;
  var body = table.tBodies[0];
  var role = table.dataset.role;
  var live = document.getElementById("census-live");
  var skew = Number(table.dataset.now) - Date.now();
  var staleText = table.dataset.staleText;
  var emptyText = table.dataset.emptyText;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function rowFor(r) {
    var tr = el("tr", "bed" + (r.stay_id ? "" : " empty") + (r.critical ? " critical" : ""));
    tr.id = "bed-" + r.bed_id;
    tr.dataset.acuity = r.acuity;
    tr.dataset.last = r.last_at;
    tr.dataset.staleAfter = r.stale_after_ms;
    var th = el("th", "banner");
    th.scope = "row";
    th.style.borderLeftColor = r.colour;
    var where = el("span", "where");
    var chip = el("span", "facility-chip", r.facility);
    chip.style.background = r.colour;
    where.appendChild(chip);
    where.appendChild(document.createTextNode(" " + r.unit + " "));
    where.appendChild(el("strong", "", r.bed));
    th.appendChild(where);
    if (r.stay_id) {
      var who = el("a", "who");
      who.href = "/icu/stays/" + r.stay_id;
      who.appendChild(el("strong", "name", r.name));
      who.appendChild(document.createTextNode(" "));
      who.appendChild(el("span", "kana", r.kana));
      th.appendChild(who);
      th.appendChild(el("span", "meta", r.age + table.dataset.yearsText + " " + r.sex + " · ID " + r.local_id));
      if (r.test) th.lastChild.appendChild(el("span", "badge pending", table.dataset.testText));
      var stale = el("span", "stale-marker", staleText);
      stale.hidden = true;
      th.appendChild(stale);
    } else {
      th.appendChild(el("span", "meta muted", emptyText));
    }
    tr.appendChild(th);
    var headers = table.tHead.rows[0].cells.length - (role === "clerk" ? 3 : 4);
    for (var i = 0; i < headers; i++) {
      var cell = r.cells[i];
      var td = el("td", "v", cell ? cell.value : "");
      if (cell) td.dataset.item = cell.item;
      tr.appendChild(td);
    }
    if (role !== "clerk") {
      var n = el("td", "news2 risk-" + r.risk, r.news2 === null ? "" : String(r.news2));
      if (r.news2 !== null && !r.news2_complete) n.appendChild(el("small", "", "+"));
      tr.appendChild(n);
    }
    var alerts = el("td", "alerts");
    if (r.alerts > 0) {
      var b = el("span", "badge " + (r.critical ? "urgent-badge" : "new-badge"), String(r.alerts));
      b.title = r.alert_texts.join("\n");
      alerts.appendChild(b);
    }
    tr.appendChild(alerts);
    tr.appendChild(el("td", "last", r.last_at_text));
    return tr;
  }

  function sort() {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var d = Number(b.dataset.acuity) - Number(a.dataset.acuity);
      return d !== 0 ? d : a.id.localeCompare(b.id);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    document.getElementById("census-occupied").textContent =
      body.querySelectorAll("tr.bed:not(.empty)").length;
  }

  function apply(frame) {
    skew = frame.now - Date.now();
    if (frame.type === "snapshot") {
      while (body.firstChild) body.removeChild(body.firstChild);
    }
    frame.rows.forEach(function (r) {
      var fresh = rowFor(r);
      var old = document.getElementById(fresh.id);
      if (old) body.replaceChild(fresh, old); else body.appendChild(fresh);
    });
    sort();
    markStale();
  }

  function markStale() {
    var now = Date.now() + skew;
    Array.prototype.forEach.call(body.rows, function (tr) {
      if (tr.classList.contains("empty")) return;
      var last = Number(tr.dataset.last);
      var stale = last === 0 || now - last > Number(tr.dataset.staleAfter);
      tr.classList.toggle("stale", stale);
      var marker = tr.querySelector(".stale-marker");
      if (marker) marker.hidden = !stale;
    });
  }

  var delay = 1000;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/icu/ws");
    ws.onopen = function () {
      delay = 1000;
      live.textContent = live.dataset.live;
      live.className = "badge active";
    };
    ws.onmessage = function (m) { apply(JSON.parse(m.data)); };
    ws.onclose = function () {
      live.textContent = live.dataset.offline;
      live.className = "badge withdrawn";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  markStale();
  setInterval(markStale, 1000);
  connect();
})();
