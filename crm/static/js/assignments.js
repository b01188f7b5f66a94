// Assignment pages. Served as a file (no inline script): the CSP allows only 'self'.
document.addEventListener("DOMContentLoaded", () => {
  // "Select all" ticks every checkbox of that name in its form.
  document.querySelectorAll("[data-select-all]").forEach((master) => {
    const boxes = () => Array.from(document.querySelectorAll(`input[type=checkbox][name="${master.dataset.selectAll}"]`));
    master.addEventListener("change", () => {
      boxes().forEach((box) => { box.checked = master.checked; });
    });
    boxes().forEach((box) => {
      box.addEventListener("change", () => {
        const all = boxes();
        master.checked = all.length > 0 && all.every((b) => b.checked);
        master.indeterminate = !master.checked && all.some((b) => b.checked);
      });
    });
  });

  // Bulk form: offer only the commissioners who have the chosen specialty ("自动建议" always stays).
  const form = document.querySelector("[data-bulk-form]");
  if (!form) {
    return;
  }
  const specialty = form.querySelector("[data-bulk-specialty]");
  const commissioner = form.querySelector("[data-bulk-commissioner]");
  if (!specialty || !commissioner) {
    return;
  }
  const filter = () => {
    Array.from(commissioner.options).forEach((option) => {
      if (!option.value) {
        return;
      }
      const codes = (option.dataset.specialties || "").split(" ");
      const fits = codes.includes(specialty.value);
      option.hidden = !fits;
      option.disabled = !fits;
      if (!fits && option.selected) {
        commissioner.value = "";
      }
    });
  };
  specialty.addEventListener("change", filter);
  filter();

  form.addEventListener("submit", (event) => {
    if (!form.querySelector('input[name="enterprise_ids"]:checked')) {
      event.preventDefault();
      window.alert("请至少勾选一家企业");
    }
  });
});
