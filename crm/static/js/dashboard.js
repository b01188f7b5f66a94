// Targets dashboard (/dashboard/): progress bar widths and the chart. The chart's data are the rows of the table
// beside it, passed in the container's data-chart attribute (the strict CSP allows no inline script or style).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".progress-bar[data-percent]").forEach((bar) => {
    bar.style.width = `${Number(bar.dataset.percent) || 0}%`;
  });
  const el = document.getElementById("targets-chart");
  if (!el || !window.echarts) {
    return;
  }
  const data = JSON.parse(el.dataset.chart);
  const chart = window.echarts.init(el, null, { renderer: "canvas" });
  const series = (key, axis, color) => ({
    name: data.labels[key], type: "bar", yAxisIndex: axis, data: data[key], itemStyle: { color },
  });
  chart.setOption({
    aria: { enabled: true },
    animation: false,
    // richText: the tooltip is drawn on the canvas, not as HTML with inline styles (strict CSP)
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0, type: "scroll" },
    grid: { left: 48, right: 48, top: 56, bottom: 28 },
    xAxis: { type: "category", data: data.units },
    yAxis: [
      { type: "value", name: "家", minInterval: 1 },
      { type: "value", name: "亿元" },
    ],
    series: [
      series("target_firms", 0, "#adb5bd"), series("actual_firms", 0, "#0d6efd"),
      series("target_output", 1, "#ced4da"), series("actual_output", 1, "#198754"),
    ],
  });
  el.dataset.rendered = "1";
  window.addEventListener("resize", () => chart.resize());
});
