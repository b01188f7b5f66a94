// The meetings calendar (FullCalendar, vendored) and the feed page's copy button. No inline script: strict CSP.
(function () {
  "use strict";

  function initCopyButtons() {
    document.querySelectorAll("[data-copy-target]").forEach((button) => {
      button.addEventListener("click", () => {
        const input = document.querySelector(button.dataset.copyTarget);
        if (!input) return;
        input.select();
        const done = () => { button.textContent = "已复制"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, () => {
            document.execCommand("copy"); done();
          });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initCopyButtons();
  });
})();
