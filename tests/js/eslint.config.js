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
    files: ["app/offline/engine.js"],
    languageOptions: {
      ecmaVersion: 2019,
      sourceType: "script",
      globals: { ...globals.browser, ...globals.node },
    },
  },
  {
    // the offline page: a plain script in the browser, reading DPO and the page's data
    files: ["app/offline/page.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser, DPO: "readonly" },
    },
  },
  {
    // the served page's components: ES modules (Panel's JSComponent _esm)
    files: ["app/views/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
  {
    // the page's views, one ES module each (docs/ui.md): bundled for both hosts, and
    // imported by Node in the tests (tests/js_ui_driver.mjs)
    files: ["app/ui/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
];
