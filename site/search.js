// Search over the site's pages, offline: the index (assets/search-index.js) is a script, not a
// fetch, so it also works when the pages are opened from disk (file://).
(function () {
  "use strict";
  const input = document.getElementById("site-search");
  const panel = document.getElementById("search-results");
  const index = window.LRP_SEARCH_INDEX || [];
  const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

  // One spelling for the notations the course writes several ways, applied to the query and to
  // the pages alike: z⁺ / $z^+$ / z+ -> "z+", ε / \\varepsilon / epsilon -> "epsilon",
  // γ / \\gamma -> "gamma", z^B / $z^{\\mathcal{B}}$ / zB -> "zb"; hyphens and TeX's braces,
  // carets, dollars and underscores become nothing or a space ("LRP-ε" -> "lrp epsilon").
  function normalize(s) {
    return s.toLowerCase()
      .replace(/\\(?:var)?epsilon|[εϵ]/g, " epsilon ")
      .replace(/\\gamma|γ/g, " gamma ")
      .replace(/\\rho|ρ/g, " rho ")
      .replace(/⁺/g, "+").replace(/⁻/g, "-").replace(/[ᴮᵇ]/g, "b")
      .replace(/\\(?:mathcal|mathrm|mathbf|boldsymbol|text|operatorname)\b/g, "")
      .replace(/[\^{}$_\\]/g, "")
      .replace(/(\w)-(?=\w)/g, "$1 ").replace(/[–—]/g, " ")
      .replace(/\s+/g, " ");
  }
  for (const entry of index) {
    entry.normHeading = normalize(entry.heading);
    entry.normText = normalize(entry.text);
  }

  // A piece of the text around the first match; never cut inside $...$, so that MathJax can
  // typeset the math in it; matches marked outside the math only.
  function snippet(text, word, normText) {
    // where the word is in the normalized text, mapped back to about the same place in the text
    const at = normText.indexOf(word);
    const found = at < 0 ? text.toLowerCase().indexOf(word) :
      Math.round(at * text.length / Math.max(1, normText.length));
    let start = Math.max(0, (found < 0 ? 0 : found) - 60);
    let end = Math.min(text.length, start + 200);
    const dollarsBefore = (i) => (text.slice(0, i).match(/\$/g) || []).length;
    if (dollarsBefore(start) % 2) start = text.lastIndexOf("$", start - 1);
    if (dollarsBefore(end) % 2) { const close = text.indexOf("$", end); end = close < 0 ? text.length : close + 1; }
    const pattern = new RegExp("(" + word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")", "ig");
    const piece = text.slice(start, end).split("$").map((part, i) =>
      i % 2 ? escapeHtml(part) : escapeHtml(part).replace(pattern, "<mark>$1</mark>")).join("$");
    return (start > 0 ? "…" : "") + piece + (end < text.length ? "…" : "");
  }

  function search(query) {
    const words = normalize(query).split(/\s+/).filter((w) => w.length > 1);
    if (!words.length) return [];
    const hits = [];
    for (const entry of index) {
      const heading = entry.normHeading;
      const text = entry.normText;
      let score = 0;
      let all = true;
      for (const word of words) {
        const inHeading = heading.includes(word);
        const count = text.split(word).length - 1;
        if (!inHeading && !count) { all = false; break; }
        score += (inHeading ? 10 : 0) + Math.min(count, 5);
      }
      if (all) hits.push({entry, score});
    }
    hits.sort((a, b) => b.score - a.score);
    return hits.slice(0, 20).map((hit) => ({...hit.entry, words}));
  }

  function show(query) {
    const hits = search(query);
    if (!query.trim()) { panel.hidden = true; return; }
    panel.hidden = false;
    if (!hits.length) {
      panel.innerHTML = '<p class="no-hits">No page mentions “' + escapeHtml(query) + '”.</p>';
      return;
    }
    panel.innerHTML = hits.map((hit) => {
      const href = hit.page + (hit.anchor ? "#" + hit.anchor : "");
      const where = hit.heading ? " › " + escapeHtml(hit.heading) : "";
      return '<a class="hit" href="' + href + '"><div class="hit-title">' + escapeHtml(hit.title) +
        where + '</div><div class="hit-text">' + snippet(hit.text, hit.words[0], hit.normText) + "</div></a>";
    }).join("");
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.typesetClear([panel]);
      MathJax.typesetPromise([panel]).catch(() => {});
    }
  }

  if (!input || !panel) return;
  input.addEventListener("input", () => show(input.value));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { input.value = ""; panel.hidden = true; }
  });
  document.addEventListener("click", (event) => {
    if (!panel.contains(event.target) && event.target !== input) panel.hidden = true;
  });
  const initial = new URLSearchParams(window.location.search).get("q");
  if (initial) { input.value = initial; show(initial); }
})();
