// Live unread badge: the server pushes the signed-in user's unread notification count over
// Server-Sent Events (/notifications/stream); the badge in the navigation follows it. The
// page works without this script: the badge is rendered with the count at page load.
(function () {
  "use strict";
  var badge = document.getElementById("notify-badge");
  if (!badge || !window.EventSource) return;
  var source = new EventSource("/notifications/stream");
  source.addEventListener("unread", function (e) {
    var n;
    try { n = JSON.parse(e.data).unread; } catch (_) { return; }
    if (typeof n !== "number" || n < 0) return;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    badge.dataset.count = String(n);
  });
  // A stream ended by the server (sign-out, session expiry) is not reopened forever: the
  // browser retries; a 401/403 answer closes it for good.
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) badge.dataset.live = "off";
  };
})();
