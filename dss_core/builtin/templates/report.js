// The HTML report's list filters (inlined into the file; the only script its policy lets run).
// Rows are in the page already, escaped; this only hides and shows them.
(function () {
  "use strict";
  var table = document.getElementById("actions");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var search = document.getElementById("search");
  var kind = document.getElementById("kind");
  var branch = document.getElementById("branch");
  var status = document.getElementById("status");
  var shown = document.getElementById("shown");
  var number = new Intl.NumberFormat("en");

  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row, i) {
      var d = row.dataset;
      var ok = (!kind.value || d.kind === kind.value) &&
        (!branch.value || d.branch === branch.value) &&
        (!status.value || d.status === status.value || (status.value === "failed" && d.failed === "1")) &&
        words.every(function (word) { return texts[i].indexOf(word) >= 0; });
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count === rows.length
      ? number.format(rows.length) + " actions"
      : number.format(count) + " of " + number.format(rows.length) + " actions shown";
  }

  function choose(select, value) {
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
    select.value = known ? value : "";
  }

  var pending = null;  // typing in a long list: filter once the keys pause, not at each one
  search.addEventListener("input", function () {
    clearTimeout(pending);
    if (rows.length > 2000) { pending = setTimeout(filter, 150); } else { filter(); }
  });
  [kind, branch, status].forEach(function (select) { select.addEventListener("change", filter); });
  document.getElementById("filters").addEventListener("reset", function () { setTimeout(filter, 0); });
  document.querySelectorAll(".chart .bar").forEach(function (bar) {
    bar.addEventListener("click", function () {
      choose(kind, bar.getAttribute("data-kind") || "");
      choose(branch, bar.getAttribute("data-branch") || "");
      filter();
      document.getElementById("list").scrollIntoView();
    });
  });
  filter();
})();
