// kontent-bridge dashboard: response dialogs, Copy, action filter, optional auto-refresh.
// Everything works without this file; it only adds comfort.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (dialog && dialog.showModal) { dialog.showModal(); }
      return;
    }
    var copy = event.target.closest("button.copy");
    if (copy) { copyText(copy); }
  });

  function copyText(button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent;
    var done = function () {
      button.setAttribute("data-copied", "");
      setTimeout(function () { button.removeAttribute("data-copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(source, done); });
    } else {
      fallbackCopy(source, done);
    }
  }

  function fallbackCopy(source, done) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { if (document.execCommand("copy")) { done(); } } catch (e) { /* the text stays selected */ }
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Auto-refresh: remembered per browser; never while a dialog is open.
  var auto = document.getElementById("auto-refresh");
  if (auto) {
    auto.checked = localStorage.getItem("bridge-auto-refresh") === "1";
    auto.addEventListener("change", function () {
      localStorage.setItem("bridge-auto-refresh", auto.checked ? "1" : "0");
    });
    setInterval(function () {
      if (auto.checked && !document.querySelector("dialog[open]") && !document.hidden) {
        window.location.reload();
      }
    }, 10000);
  }
})();
