// Service performance (/dashboard/service): the chart of visits per month. Its data is the table beside it,
// passed in the container's data-chart attribute (the strict CSP allows no inline script).
document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("visits-chart");
  if (!el || !window.echarts) {
    return;
  }
  const data = JSON.parse(el.dataset.chart);
  const chart = window.echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    aria: { enabled: true },
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: data.months },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: data.labels.visits, type: "bar", data: data.visits },
      { name: data.labels.interactions, type: "bar", data: data.interactions },
    ],
  });
  el.dataset.rendered = "1";
  window.addEventListener("resize", () => chart.resize());
});
