/* Sort the fleet table by a column: text or number, click again to reverse. No network, no library. */
(function () {
  var table = document.getElementById("fleet");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.getAttribute("data-sort") === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value"), y = b.cells[column].getAttribute("data-value");
        var order;
        if (numeric) {
          var nx = x === "" ? Infinity : Number(x), ny = y === "" ? Infinity : Number(y);
          order = nx === ny ? 0 : (nx < ny ? -1 : 1);
        } else {
          order = x.localeCompare(y);
        }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  /* #sort=N or #sort=N-desc (N: the column, from 0): open the page sorted, e.g. a link in a ticket. */
  var asked = /^#sort=(\d+)(-desc)?$/.exec(window.location.hash);
  if (asked && heads[Number(asked[1])]) {
    heads[Number(asked[1])].click();
    if (asked[2]) { heads[Number(asked[1])].click(); }
  }
}());
