// Small enhancements on top of server-rendered pages; everything works without them except
// live refresh and charts. No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  // Times arrive in UTC; show them in the browser's time zone, written as the page's
  // language writes dates (<html lang>; the browser's own if the tag is unknown to it).
  var dateTime;
  try {
    dateTime = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
      { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

  function localize(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      el.textContent = dateTime.format(new Date(el.getAttribute("datetime")));
      el.title = zone;
    });
    root.querySelectorAll("time[data-title]").forEach(function (el) {
      el.title = dateTime.format(new Date(el.getAttribute("datetime")));
    });
    root.querySelectorAll("[data-browser-tz]").forEach(function (el) { el.value = zone; });
    root.querySelectorAll("[data-tz-label]").forEach(function (el) { el.textContent = "(" + zone + ")"; });
  }

  // Dark mode: follows the system until the user picks, then remembers the pick.
  function toggleTheme() {
    var root = document.documentElement;
    var dark = root.dataset.theme
      ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("duplistatus-theme", root.dataset.theme);
    document.dispatchEvent(new CustomEvent("themechange"));
  }

  // Live refresh of the dashboard without a full reload; the interval is remembered.
  var timer = null;
  function setupRefresh(select) {
    var saved = localStorage.getItem("duplistatus-refresh");
    if (saved !== null && select.querySelector('option[value="' + saved + '"]')) select.value = saved;
    function schedule() {
      clearInterval(timer);
      var seconds = parseInt(select.value, 10);
      if (seconds > 0 && window.htmx) {
        timer = setInterval(function () {
          if (document.hidden) return;
          htmx.ajax("GET", location.pathname + location.search, {
            target: select.dataset.refresh, swap: "outerHTML",
          });
        }, seconds * 1000);
      }
    }
    select.addEventListener("change", function () {
      localStorage.setItem("duplistatus-refresh", select.value);
      schedule();
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.addEventListener("click", toggleTheme);
    });
    var refresh = document.querySelector("select[data-refresh]");
    if (refresh) setupRefresh(refresh);

    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-confirm]");
      if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
    });
    document.querySelectorAll("[data-check-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        box.form.querySelectorAll('input[name="' + box.dataset.checkAll + '"]').forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
    // The sign-in page's language picker applies at once; its button is for pages without script.
    document.querySelectorAll("[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
    document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
    document.querySelectorAll("[data-log-filter]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelector(box.dataset.logFilter).classList.toggle("only-problems", box.checked);
      });
    });
  });

  // A strip of recent runs is one Tab stop (its newest bar); the arrow keys, Home and End
  // move along it, and the focused bar shows its popup (CSS :focus).
  document.addEventListener("keydown", function (event) {
    var bar = event.target.closest && event.target.closest(".strip .bar");
    if (!bar) return;
    var bars = Array.prototype.slice.call(bar.parentNode.querySelectorAll(".bar"));
    var at = bars.indexOf(bar), to = null;
    if (event.key === "ArrowLeft") to = Math.max(0, at - 1);
    else if (event.key === "ArrowRight") to = Math.min(bars.length - 1, at + 1);
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = bars.length - 1;
    if (to === null) return;
    event.preventDefault();
    bar.tabIndex = -1;
    bars[to].tabIndex = 0;
    bars[to].focus();
  });

  document.addEventListener("htmx:afterSettle", function () { localize(document); });
})();
