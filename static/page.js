// Lookout's status page works fully without this script. With it:
// - times are shown in the visitor's time zone (UTC stays in the title);
// - the uptime bars are one Tab stop each, arrow keys moving between days;
// - every 60 s, while the tab is visible, the page is fetched again and its
//   content swapped in place (served from the server's cache, revalidated
//   by ETag).
// No inline script and no eval: the Content-Security-Policy allows neither.
(function () {
  'use strict';

  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, {
      year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short'
    });
  } catch (e) {
    fmt = null;
  }

  // localTimes rewrites <time datetime="...T...Z"> (not date-only ones) to
  // local time, keeping the UTC text in the title.
  function localTimes(root) {
    if (!fmt) return;
    var times = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var dt = el.getAttribute('datetime');
      if (dt.indexOf('T') < 0 || el.hasAttribute('data-local')) continue;
      var d = new Date(dt);
      if (isNaN(d.getTime())) continue;
      el.setAttribute('title', el.textContent);
      el.setAttribute('data-local', '');
      el.textContent = fmt.format(d);
    }
  }

  // Roving tabindex over a bar's days: the bar has one Tab stop (the
  // server makes it the newest day); arrows, Home and End move it.
  function onBarKey(e) {
    var keys = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
    if (!(e.key in keys) || e.altKey || e.ctrlKey || e.metaKey) return;
    var bar = e.target.closest ? e.target.closest('.bar') : null;
    if (!bar || !e.target.classList.contains('day')) return;
    var days = bar.querySelectorAll('a.day');
    var i = Array.prototype.indexOf.call(days, e.target);
    var step = keys[e.key];
    var j = step === -Infinity ? 0 : step === Infinity ? days.length - 1 : Math.min(Math.max(i + step, 0), days.length - 1);
    e.preventDefault();
    if (j === i) return;
    days[i].setAttribute('tabindex', '-1');
    days[j].setAttribute('tabindex', '0');
    days[j].focus();
  }

  // refresh fetches the page again and swaps <main> in place, unless the
  // visitor is in it (focus inside): then it waits for the next round.
  // Open groups stay open.
  function refresh() {
    if (document.visibilityState !== 'visible') return;
    var main = document.getElementById('main');
    if (!main || (document.activeElement && document.activeElement !== document.body && main.contains(document.activeElement))) return;
    fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var next = doc.getElementById('main');
        var cur = document.getElementById('main');
        if (!next || !cur) return;
        var open = {};
        cur.querySelectorAll('details.group[open] > summary .name').forEach(function (n) { open[n.textContent] = true; });
        next.querySelectorAll('details.group > summary .name').forEach(function (n) {
          if (open[n.textContent]) n.closest('details').setAttribute('open', '');
        });
        localTimes(next);
        cur.replaceWith(document.adoptNode(next));
        document.title = doc.title;
      })
      .catch(function () { /* offline or Lookout down: keep what is shown */ });
  }

  function start() {
    localTimes(document);
    document.addEventListener('keydown', onBarKey);
    // A copy opened from disk has nothing to fetch.
    if (location.protocol === 'http:' || location.protocol === 'https:') {
      var tick = function () { refresh(); setTimeout(tick, 60000); };
      setTimeout(tick, 60000);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
