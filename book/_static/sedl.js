/* The book's own script (added to the theme's by _config.yml): a repair for WCAG 2.1 (2.1.1,
   Keyboard). The theme makes a code block or an output focusable (tabindex 0) only when it
   scrolls, so that a keyboard can scroll it; but it decides at load time and on window resizes,
   when the blocks inside folded dropdowns (hidden code, solutions) have no size yet and do not
   scroll. Unfolded, they scroll and cannot be reached. Here each block is re-examined whenever
   its size changes, which is what unfolding does. */
(() => {
  "use strict";
  const SCROLLERS = ["pre", ".nboutput > .output_area", ".cell_output > .output",
                     ".jp-RenderedHTMLCommon", ".pst-scrollable-table-container"].join(", ");
  const examine = (el) => {
    const scrolls = el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight;
    el.tabIndex = scrolls ? 0 : -1;
  };
  const start = () => {
    const observer = new ResizeObserver((entries) => entries.forEach((e) => examine(e.target)));
    document.querySelectorAll(SCROLLERS).forEach((el) => observer.observe(el));
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
