// The commissioners' pages. Served as a file (no inline script): the CSP allows only 'self'.
document.addEventListener("DOMContentLoaded", () => {
  // "同时登记诉求": the request's fields show only while the switch is on (without JS they always show).
  document.querySelectorAll("[data-toggles]").forEach((toggle) => {
    const section = document.getElementById(toggle.dataset.toggles);
    if (!section) {
      return;
    }
    const sync = () => { section.hidden = !toggle.checked; };
    toggle.addEventListener("change", sync);
    sync();
  });

  // Follow-up shortcuts: a week, two weeks or a month after the service date (or none).
  document.querySelectorAll("[data-follow-up-shortcuts]").forEach((group) => {
    const form = group.closest("form");
    const target = form && form.querySelector("[data-follow-up]");
    const start = form && form.querySelector('input[name="date"]');
    if (!target) {
      return;
    }
    group.hidden = false;
    group.querySelectorAll("[data-follow-up-days]").forEach((button) => {
      button.addEventListener("click", () => {
        const days = button.dataset.followUpDays;
        if (!days) {
          target.value = "";
          return;
        }
        const base = start && /^\d{4}-\d{2}-\d{2}$/.test(start.value) ? new Date(`${start.value}T00:00:00`) : new Date();
        base.setDate(base.getDate() + Number(days));
        const pad = (n) => String(n).padStart(2, "0");
        target.value = `${base.getFullYear()}-${pad(base.getMonth() + 1)}-${pad(base.getDate())}`;
      });
    });
  });

  // Transition form: the satisfaction (回访) shows only for the moves that take one.
  document.querySelectorAll("[data-transition-form]").forEach((form) => {
    const group = form.querySelector("[data-satisfaction-group]");
    if (!group) {
      return;
    }
    const sync = () => {
      const chosen = form.querySelector('input[name="to"]:checked');
      const rule = chosen ? chosen.dataset.satisfaction : "none";
      const hasError = group.querySelector(".invalid-feedback");
      group.hidden = rule === "none" && !hasError;
      group.querySelectorAll('input[name="satisfaction"]').forEach((input) => {
        input.required = rule === "required";
      });
    };
    form.querySelectorAll('input[name="to"]').forEach((input) => input.addEventListener("change", sync));
    sync();
  });
});
