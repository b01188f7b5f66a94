// Enterprise form: the settle date only matters for firms settled from 成渝; dim it otherwise.
// Served as a file (no inline script): the CSP allows only 'self'.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("settled_from_chengyu");
  const wrapper = document.querySelector("[data-settled-date]");
  if (!box || !wrapper) {
    return;
  }
  const input = wrapper.querySelector("input");
  const sync = () => {
    wrapper.classList.toggle("opacity-50", !box.checked);
    if (input) {
      input.required = box.checked;
    }
  };
  box.addEventListener("change", sync);
  sync();
});
