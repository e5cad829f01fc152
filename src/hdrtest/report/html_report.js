// hdrtest HTML report: draws the matrix from the JSON data block.
// Every string from the data goes through textContent, never innerHTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hdrtest-data").textContent);
  var FAILING = { fail: true, timeout: true, error: true };
  var RANK = { error: 0, timeout: 1, fail: 2, unverified: 3, pass: 4, none: 5 };
  var sortKey = { column: "header", descending: false };
  var selected = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function cellOf(row, variant) {
    var index = row.cells[variant.name];
    return index === undefined ? null : data.cells[index];
  }

  function failures(row) {
    return data.variants.reduce(function (count, variant) {
      var cell = cellOf(row, variant);
      return count + (cell && FAILING[cell.status] ? 1 : 0);
    }, 0);
  }

  function rowText(row) {
    if (row._text === undefined) {
      var parts = [row.header];
      data.variants.forEach(function (variant) {
        var cell = cellOf(row, variant);
        if (cell && cell.diagnostics) { parts.push(cell.diagnostics); }
        if (cell && cell.not_verified) { parts.push(cell.not_verified); }
      });
      row._text = parts.join("\n").toLowerCase();
    }
    return row._text;
  }

  function drawSummary() {
    var box = document.getElementById("summary");
    var s = data.summary;
    function badge(cls, number, label) {
      var node = el("span", { "class": "badge " + cls });
      node.appendChild(el("b", null, number));
      node.appendChild(document.createTextNode(label));
      box.appendChild(node);
    }
    badge("", s.headers_checked, "headers checked");
    badge(s.headers_failed ? "s-fail" : "s-pass", s.headers_failed, "headers failed");
    ["pass", "fail", "timeout", "error", "unverified"].forEach(function (status) {
      if (s.cells[status]) { badge("s-" + status, s.cells[status], status); }
    });
    if (s.skipped) { badge("", s.skipped, "skipped"); }
    badge("", s.elapsed + " s", "");
  }

  function drawHead() {
    var tr = el("tr");
    var columns = [{ key: "header", label: "Header" }, { key: "language", label: "Lang" },
      { key: "failures", label: "Failures" }];
    data.variants.forEach(function (variant) {
      columns.push({ key: "v:" + variant.name, label: variant.description, title: variant.reason });
    });
    columns.forEach(function (column) {
      var th = el("th", { scope: "col", "data-key": column.key, title: column.title || column.label }, column.label);
      if (sortKey.column === column.key) {
        th.setAttribute("aria-sort", sortKey.descending ? "descending" : "ascending");
      }
      th.addEventListener("click", function () {
        sortKey = { column: column.key, descending: sortKey.column === column.key ? !sortKey.descending : false };
        drawHead();
        drawBody();
      });
      tr.appendChild(th);
    });
    var thead = document.querySelector("#matrix thead");
    thead.textContent = "";
    thead.appendChild(tr);
  }

  function compare(a, b) {
    var key = sortKey.column;
    var x, y;
    if (key === "header") { x = a.header; y = b.header; }
    else if (key === "language") { x = a.language + a.header; y = b.language + b.header; }
    else if (key === "failures") { x = failures(a); y = failures(b); }
    else {
      var variant = data.variants.filter(function (v) { return "v:" + v.name === key; })[0];
      var ca = cellOf(a, variant), cb = cellOf(b, variant);
      x = RANK[ca ? ca.status : "none"]; y = RANK[cb ? cb.status : "none"];
    }
    var order = x < y ? -1 : x > y ? 1 : (a.header < b.header ? -1 : a.header > b.header ? 1 : 0);
    return sortKey.descending ? -order : order;
  }

  function visible(row, text, status) {
    if (text && rowText(row).indexOf(text) < 0) { return false; }
    if (status === "all") { return true; }
    var statuses = data.variants.map(function (v) { var c = cellOf(row, v); return c ? c.status : null; });
    if (status === "failing") { return statuses.some(function (s) { return FAILING[s]; }); }
    if (status === "pass") { return statuses.every(function (s) { return s === null || s === "pass"; }); }
    return statuses.indexOf(status) >= 0;
  }

  function drawBody() {
    var text = document.getElementById("filter").value.trim().toLowerCase();
    var status = document.getElementById("status-filter").value;
    var tbody = document.querySelector("#matrix tbody");
    tbody.textContent = "";
    var rows = data.rows.filter(function (row) { return visible(row, text, status); });
    rows.sort(compare);
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", { "class": "header" }, row.header));
      tr.appendChild(el("td", null, row.language));
      tr.appendChild(el("td", null, failures(row)));
      data.variants.forEach(function (variant) {
        var index = row.cells[variant.name];
        var cell = index === undefined ? null : data.cells[index];
        if (!cell) {
          tr.appendChild(el("td", { "class": "cell s-none", title: "not checked in this variant" }, "\u2013"));
          return;
        }
        var td = el("td", {
          "class": "cell s-" + cell.status, tabindex: "0", role: "button", "data-cell": String(index),
          title: row.header + " \u2014 " + variant.description + ": " + cell.status
        }, cell.status);
        if (selected === index) { td.classList.add("selected"); }
        td.addEventListener("click", function () { openCell(index); });
        td.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openCell(index); }
        });
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    document.getElementById("shown").textContent = rows.length + " of " + data.rows.length + " header(s) shown";
  }

  function section(box, title, text, id) {
    if (!text) { return; }
    box.appendChild(el("h3", null, title));
    box.appendChild(el("pre", id ? { id: id } : null, text));
  }

  function openCell(index) {
    var cell = data.cells[index];
    selected = index;
    document.querySelectorAll("#matrix td.selected").forEach(function (td) { td.classList.remove("selected"); });
    var td = document.querySelector('#matrix td[data-cell="' + index + '"]');
    if (td) { td.classList.add("selected"); }
    var box = document.getElementById("details");
    box.textContent = "";
    var close = el("button", { "class": "close", title: "close", "aria-label": "close" }, "\u00D7");
    close.addEventListener("click", function () { box.hidden = true; selected = null; drawBody(); });
    box.appendChild(close);
    box.appendChild(el("h2", null, cell.header + " [" + cell.language + "]"));
    var status = el("p", { "class": "meta" });
    status.appendChild(el("span", { "class": "status-tag badge s-" + cell.status }, cell.status));
    status.appendChild(document.createTextNode(" in " + cell.description + " \u2014 " + cell.duration + " s" +
      (cell.cached ? " (from cache)" : "")));
    box.appendChild(status);
    if (cell.reason) { box.appendChild(el("p", { "class": "meta" }, "variant chosen because " + cell.reason)); }
    if (cell.not_verified) {
      box.appendChild(el("p", { "class": "meta", id: "details-not-verified" }, "not verified: " + cell.not_verified));
    }
    if (cell.triage) { box.appendChild(el("p", { "class": "meta" }, "impact: " + cell.triage)); }
    section(box, "Diagnostics", cell.diagnostics, "details-diagnostics");
    if (cell.notes && cell.notes.length) {
      box.appendChild(el("h3", null, "Explanation"));
      var list = el("ul", { id: "details-notes" });
      cell.notes.forEach(function (note) {
        var item = el("li", null, note.place + ": " + note.message);
        if (note.fix) { item.appendChild(el("pre", { "class": "fix" }, note.fix)); }
        list.appendChild(item);
      });
      box.appendChild(list);
    }
    section(box, "Reproduce", cell.reproduce, "details-reproduce");
    if (cell.flags_origin) { box.appendChild(el("p", { "class": "meta" }, "flags from " + cell.flags_origin)); }
    if (cell.status === "pass") { box.appendChild(el("p", { "class": "meta" }, "compiles on its own")); }
    box.hidden = false;
    box.scrollTop = 0;
  }

  function drawSkipped() {
    if (!data.skipped.length) { return; }
    var list = document.getElementById("skipped");
    data.skipped.forEach(function (item) {
      var li = el("li");
      li.appendChild(el("code", null, item.header));
      li.appendChild(document.createTextNode(": " + item.reason));
      list.appendChild(li);
    });
    document.getElementById("skipped-section").hidden = false;
  }

  function drawNotes() {
    if (!data.notes || !data.notes.length) { return; }
    var list = document.getElementById("notes");
    data.notes.forEach(function (note) { list.appendChild(el("li", null, note)); });
    document.getElementById("notes-section").hidden = false;
  }

  drawSummary();
  drawNotes();
  drawHead();
  drawBody();
  drawSkipped();
  document.getElementById("filter").addEventListener("input", drawBody);
  document.getElementById("status-filter").addEventListener("change", drawBody);
  document.body.setAttribute("data-ready", "true");
}());
