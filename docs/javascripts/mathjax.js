// MathJax 2.7 (served from the site itself, see docs/hooks/offline_assets.py): typeset the
// \( \) and \[ \] spans that pymdownx.arithmatex writes, and nothing else.
window.MathJax = {
  tex2jax: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    ignoreClass: ".*|",
    processClass: "arithmatex"
  },
  showMathMenu: false
};
