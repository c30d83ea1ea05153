// The phone page audit run by tests/test_pages_phone.py: WCAG AA contrast of every text on
// its background, 44 px targets with a name, no sideways scroll.
() => {
  const rgb = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(",").map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = ({r, g, b}) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const s = getComputedStyle(e);
      if (s.backgroundImage !== "none") return null;  // a gradient: not measured here
      const c = rgb(s.backgroundColor); if (c && c.a > 0.5) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
      getComputedStyle(el).visibility !== "hidden" && !el.closest("[hidden]"); };
  const lowContrast = [], smallTargets = [], unnamed = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el) || el.closest(".visually-hidden") || el.disabled) continue;
    if ([...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) {
      const s = getComputedStyle(el), bg = background(el);
      if (bg) {
        const [a, b] = [lum(rgb(s.color)), lum(bg)];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && Number(s.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5)) lowContrast.push(`${el.id || el.className || el.tagName}: ${ratio.toFixed(2)}`);
      }
    }
    if (el.matches("button, input, select, textarea")) {
      const r = el.getBoundingClientRect();
      if (r.height < 44 || (el.tagName === "BUTTON" && r.width < 44)) smallTargets.push(`${el.id || el.textContent.trim()}: ${Math.round(r.width)}x${Math.round(r.height)}`);
      const name = el.getAttribute("aria-label") || el.textContent.trim() || (el.labels && el.labels.length);
      if (!name) unnamed.push(el.id || el.tagName);
    }
  }
  return {lowContrast, smallTargets, unnamed, overflow: document.documentElement.scrollWidth > innerWidth};
}
