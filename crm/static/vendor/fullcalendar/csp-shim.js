/* FullCalendar 6 under a strict CSP (style-src 'self'): load this file just before index.global.min.js.
 *
 * FullCalendar 6 injects its CSS through a <style data-fullcalendar> element it creates, which the CSP blocks
 * (a console violation, no styles). Its CSS is served instead as a file (fullcalendar.css, extracted from this very
 * bundle, its icon font as fcicons.ttf), and FullCalendar is handed an inert sheet to write into when it looks
 * for its <style data-fullcalendar> element, so it creates no inline style. Nothing else is touched.
 */
(function () {
  "use strict";
  var sink = { isConnected: true, sheet: { cssRules: { length: 0 }, insertRule: function () { return 0; } } };
  var original = document.querySelector;
  document.querySelector = function (selector) {
    if (selector === "style[data-fullcalendar]") return sink;
    return original.apply(this, arguments);
  };
})();
