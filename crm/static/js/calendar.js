// The meetings calendar (FullCalendar 6, vendored) and the feed page's copy button.
// No inline script or style anywhere (strict CSP): the page passes its settings in data-* attributes.
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
            document.execCommand("copy");
            done();
          });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  function initCalendar() {
    const el = document.getElementById("meeting-calendar");
    if (!el || !window.FullCalendar) return;
    const kindSelect = document.getElementById("filter-kind");
    const citySelect = document.getElementById("filter-city");
    const errorBox = document.getElementById("calendar-error");
    const phone = window.matchMedia(el.dataset.phoneQuery || "(max-width: 767.98px)");

    const toolbar = (small) => small
      ? { left: "prev,next", center: "title", right: "today" }
      : { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,listMonth" };
    const footer = (small) => small ? { center: "listMonth,dayGridMonth,timeGridWeek" } : false;

    const calendar = new FullCalendar.Calendar(el, {
      locale: el.dataset.locale || "zh-cn",
      timeZone: el.dataset.timeZone || "Asia/Shanghai", // the server answers floating Shanghai times
      initialView: phone.matches ? "listMonth" : "dayGridMonth",
      headerToolbar: toolbar(phone.matches),
      footerToolbar: footer(phone.matches),
      buttonText: { today: "今天", month: "月", week: "周", list: "列表" },
      views: { listMonth: { buttonText: "列表" } },
      height: "auto",
      firstDay: 1,
      nowIndicator: true,
      dayMaxEvents: true,
      eventDisplay: "block",
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      slotMinTime: "07:00:00",
      slotMaxTime: "22:00:00",
      noEventsContent: "本时段没有会议",
      events: {
        url: el.dataset.eventsUrl,
        extraParams: () => ({
          kind: kindSelect ? kindSelect.value : "",
          city: citySelect ? citySelect.value : "",
        }),
      },
      loading: (isLoading) => {
        if (isLoading && errorBox) errorBox.classList.add("d-none");
      },
      eventSourceFailure: () => {
        if (!errorBox) return;
        errorBox.textContent = el.dataset.errorMessage || "会议数据加载失败";
        errorBox.classList.remove("d-none");
      },
      eventDidMount: (info) => {
        const p = info.event.extendedProps;
        const place = [p.city, p.venue].filter(Boolean).join(" ");
        info.el.title = [p.kindLabel, info.event.title, place, p.statusLabel].filter(Boolean).join(" · ");
      },
      // Clicking an event follows its url (/meetings/<id>): FullCalendar's default for events with a url.
    });
    calendar.render();

    phone.addEventListener("change", (event) => {
      calendar.setOption("headerToolbar", toolbar(event.matches));
      calendar.setOption("footerToolbar", footer(event.matches));
      if (event.matches) calendar.changeView("listMonth");
    });

    const refilter = () => {
      const params = new URLSearchParams(window.location.search);
      [["kind", kindSelect], ["city", citySelect]].forEach(([name, select]) => {
        if (select && select.value) params.set(name, select.value); else params.delete(name);
      });
      const query = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
      calendar.refetchEvents();
    };
    [kindSelect, citySelect].forEach((select) => select && select.addEventListener("change", refilter));
    const form = document.getElementById("calendar-filters");
    if (form) form.addEventListener("submit", (event) => { event.preventDefault(); refilter(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initCopyButtons();
    initCalendar();
  });
})();
