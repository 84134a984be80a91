// Charts of a job's (or a server's jobs') runs with uPlot: one small chart per metric.
// Data comes from the page's metrics URL as JSON (see web/history.py `series`); the words
// come translated from the page (data-charts-strings, history.chart_strings), and numbers and
// dates are written in the page's language (<html lang>).
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777"];
  var charts = [];
  var words = {};
  var lang = document.documentElement.lang || undefined;
  try { new Intl.NumberFormat(lang); } catch (e) { lang = undefined; }  // an unknown tag

  // "%(metric)s per run" with {metric: "Duration"}: the placeholders Django's gettext uses.
  function say(key, values) {
    return (words[key] || key).replace(/%\((\w+)\)s/g, function (all, name) {
      return values[name] != null ? values[name] : all;
    });
  }

  function decimal(value, digits) {
    return value.toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function human(value, unit) {
    if (value == null) return "—";
    if (unit === "bytes") {
      // Steps of 1,024, labelled as such: as humanize.human_size writes sizes on the pages.
      var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
      while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
      return (i ? decimal(value, 1) : value) + " " + units[i];
    }
    if (unit === "seconds") {
      if (value < 90) return say("seconds", { count: Math.round(value) });
      if (value < 5400) return say("minutes", { count: Math.round(value / 60) });
      return say("hours", { count: decimal(value / 3600, 1) });
    }
    return Math.round(value).toLocaleString(lang);
  }

  // The time axis in the page's language and the browser's zone: months for ticks a month
  // or more apart, days for a day or more, else times (with the day under a day's first).
  var month = new Intl.DateTimeFormat(lang, { month: "short", year: "numeric" });
  var day = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric" });
  var time = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  function timeTicks(u, ticks, axisIndex, space, increment) {
    var lastDay = null;
    return ticks.map(function (tick) {
      var date = new Date(tick * 1000);
      if (increment >= 28 * 86400) return month.format(date);
      if (increment >= 86400) return day.format(date);
      var text = time.format(date), today = day.format(date);
      if (today !== lastDay) text += "\n" + today;
      lastDay = today;
      return text;
    });
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // A job's normal band (shaded) and its flagged runs (circled), from anomaly/check.py's
  // chart_marks; drawn on the job's chart only (a server's charts have a line per job).
  function marks(band, flagged, xs, values, color) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1;
          ctx.save();
          if (band) {
            var top = Math.max(box.top, u.valToPos(band.high, "y", true));
            var bottom = Math.min(box.top + box.height, u.valToPos(band.low, "y", true));
            if (bottom > top) {
              ctx.fillStyle = "rgba(37, 99, 235, 0.12)";
              ctx.fillRect(box.left, top, box.width, bottom - top);
            }
          }
          ctx.strokeStyle = color;
          ctx.lineWidth = 2 * ratio;
          (flagged || []).forEach(function (x) {
            var i = xs.indexOf(x);
            if (i < 0 || values[i] == null) return;
            ctx.beginPath();
            ctx.arc(u.valToPos(x, "x", true), u.valToPos(values[i], "y", true), 6 * ratio, 0, 2 * Math.PI);
            ctx.stroke();
          });
          ctx.restore();
        }],
      },
    };
  }

  // Failed and warning runs get a marker on every chart, in the result colours of the page.
  var MARKED = { Error: "--bad", Fatal: "--bad", Warning: "--late" };

  function markProblems(metric, jobs) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      jobs.forEach(function (job) {
        job.status.forEach(function (status, i) {
          var value = job[metric.name][i];
          if (!MARKED[status] || value == null) return;
          var x = u.valToPos(job.x[i], "x", true), y = u.valToPos(value, "y", true);
          ctx.beginPath();
          ctx.fillStyle = cssVar(MARKED[status]) || "#b91c1c";
          ctx.arc(x, y, 4.5 * devicePixelRatio, 0, 2 * Math.PI);
          ctx.fill();
        });
      });
      ctx.restore();
    };
  }

  function problemsText(jobs) {
    var failed = 0, warned = 0;
    jobs.forEach(function (job) {
      job.status.forEach(function (status) {
        if (status === "Error" || status === "Fatal") failed++;
        else if (status === "Warning") warned++;
      });
    });
    return { failed: failed, warned: warned };
  }

  function draw(container, data) {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    container.querySelectorAll(".chart").forEach(function (el) { el.remove(); });
    var empty = container.querySelector("[data-charts-empty]");
    empty.hidden = data.jobs.length > 0;
    if (!data.jobs.length) return;
    var ink = cssVar("--muted") || "#666", grid = cssVar("--line") || "#ddd";
    var problems = problemsText(data.jobs);
    var note = container.querySelector("[data-charts-marks]");
    if (note) {
      note.hidden = !(problems.failed || problems.warned);
      note.querySelector("[data-failed]").textContent = problems.failed;
      note.querySelector("[data-warned]").textContent = problems.warned;
    }
    data.metrics.forEach(function (metric) {
      var tables = data.jobs.map(function (job) { return [job.x, job[metric.name]]; });
      var aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
      var figure = document.createElement("figure");
      figure.className = "chart";
      figure.setAttribute("role", "img");
      figure.setAttribute("aria-label", say("per_run", { metric: metric.label }) +
        (problems.failed ? ", " + say("failed_marked", { count: problems.failed }) : "") +
        (problems.warned ? ", " + say("warned_marked", { count: problems.warned }) : ""));
      figure.dataset.marked = problems.failed + problems.warned;
      var caption = document.createElement("figcaption");
      var single = data.jobs.length === 1 && data.bands !== undefined;
      var band = single ? data.bands[metric.name] : null;
      var flagged = single ? (data.flagged[metric.name] || []) : [];
      caption.textContent = metric.label;
      if (band) {
        caption.textContent += " · " + say("normal", {
          low: human(band.low, metric.unit), high: human(band.high, metric.unit),
        });
        figure.dataset.bandLow = band.low;
        figure.dataset.bandHigh = band.high;
      }
      if (flagged.length) figure.dataset.flagged = flagged.length;
      figure.appendChild(caption);
      container.appendChild(figure);
      var axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
      var options = {
        width: Math.max(220, figure.clientWidth),
        height: 170,
        legend: { show: data.jobs.length > 1, live: false },
        cursor: { points: { size: 6 } },
        scales: { x: { time: true } },
        plugins: single ? [marks(band, flagged, aligned[0], aligned[1], cssVar("--bad") || "#dc2626")] : [],
        hooks: { draw: [markProblems(metric, data.jobs)] },
        axes: [
          Object.assign({}, axis, { values: timeTicks }),
          Object.assign({}, axis, {
            size: 78,
            values: function (u, values) { return values.map(function (v) { return human(v, metric.unit); }); },
          }),
        ],
        series: [{}].concat(data.jobs.map(function (job, i) {
          return {
            label: job.name,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            spanGaps: true,
            points: { show: aligned[0].length < 60 },
            value: function (u, v) { return human(v, metric.unit); },
          };
        })),
      };
      charts.push(new uPlot(options, aligned, figure));
    });
  }

  function load(container, range) {
    var url = container.dataset.charts + "?range=" + encodeURIComponent(range);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) { draw(container, data); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.querySelector("[data-charts]");
    if (!container || !window.uPlot) return;
    words = JSON.parse(container.dataset.chartsStrings || "{}");
    var select = document.querySelector("[data-chart-range]");
    var range = localStorage.getItem("duplistatus-range") || select.value;
    if (select.querySelector('option[value="' + range + '"]')) select.value = range;
    load(container, select.value);
    select.addEventListener("change", function () {
      localStorage.setItem("duplistatus-range", select.value);
      load(container, select.value);
    });
    var resizing = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizing);
      resizing = setTimeout(function () {
        charts.forEach(function (chart) {
          chart.setSize({ width: Math.max(220, chart.root.parentNode.clientWidth), height: 170 });
        });
      }, 150);
    });
    document.addEventListener("themechange", function () { load(container, select.value); });
  });
})();
