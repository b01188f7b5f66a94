// Roster import page: poll the import's progress until the check is over, then reload to show the report.
// Served as a file (no inline script): the CSP allows only 'self'.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-import-poll]");
  if (!box || !["queued", "checking"].includes(box.dataset.importStatus)) {
    return;
  }
  const url = box.dataset.importPoll;
  const bar = box.querySelector("progress");
  const counter = box.querySelector("[data-import-counter]");
  const label = box.querySelector("[data-import-label]");
  const delay = 1000;
  let failures = 0;

  const show = (data) => {
    if (bar) {
      bar.max = Math.max(data.rows_total, 1);
      bar.value = Math.min(data.rows_checked, bar.max);
    }
    if (counter) {
      counter.textContent = `已检查 ${data.rows_checked} / ${data.rows_total} 行`;
    }
    if (label) {
      label.textContent = data.status_label;
    }
  };

  const poll = () => {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) {
          throw new Error(`HTTP ${response.status}`);
        }
        return response.json();
      })
      .then((data) => {
        failures = 0;
        show(data);
        if (data.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, delay);
        }
      })
      .catch(() => {
        failures += 1;
        if (failures < 10) {
          window.setTimeout(poll, delay * 2 * failures);
        } else if (counter) {
          counter.textContent = "暂时无法获取进度,请稍后刷新本页";
        }
      });
  };
  window.setTimeout(poll, delay);
});
