// ESLint for the project's own JavaScript (app/**/*.js): ESLint's recommended rules, with
// the globals each file runs with. Run by tests/test_js_lint.py (npm ci in scripts/test).
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { basePath: "../.." },            // the repository: the files are named from its root
  js.configs.recommended,
  {
    // the offline page's engine: a plain script (window.DPO) and a CommonJS module (Node)
    files: ["app/offline/engine.js", "app/offline/stack.js"],
    languageOptions: {
      ecmaVersion: 2019,
      sourceType: "script",
      globals: { ...globals.browser, ...globals.worker, ...globals.node },
    },
  },
  {
    // the page's shared views (app/ui, docs/ui.md): ES modules in the browser; KaTeX is the
    // page's global katex (app/ui/katex.js loads it)
    files: ["app/ui/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module",
      globals: { ...globals.browser, katex: "readonly" } },
  },
];
