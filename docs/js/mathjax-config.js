// MathJax settings, read by js/mathjax/tex-mml-chtml.js (served from this site, see
// docs/hooks/mathjax.py). pymdownx.arithmatex wraps each formula written as \( \) or \[ \] in an
// element of class "arithmatex"; MathJax typesets those and leaves the rest of the page (code
// blocks included) alone. A formula Markdown did not wrap has already lost its backslashes, so no
// MathJax setting could rescue it: tests/test_docs_browser.py catches that instead.
//
// Every page is a full load (navigation.instant is off), so MathJax's own typesetting at start-up
// is the only one. A second call here, as for instant navigation, would typeset the first load
// twice, nesting each formula inside its own copy.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
