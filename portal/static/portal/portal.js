// The portal's only script: the copy button beside a secret shown once.
// Everything else works without JavaScript; htmx (served locally) adds partial updates.
(function () {
  "use strict";
  function announce(button, text) {
    var card = button.closest(".card") || document;
    var status = card.querySelector(".copy-status");
    if (status) status.textContent = text;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) return;
    input.focus();
    input.select();
    var done = function () { announce(button, "Copied to the clipboard."); button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        announce(button, "Press Ctrl+C (or ⌘C) to copy the selected text.");
      });
    } else if (document.execCommand && document.execCommand("copy")) {
      done();
    } else {
      announce(button, "Press Ctrl+C (or ⌘C) to copy the selected text.");
    }
  });
})();
