/* The served page's Panel component (app/page.py ServedPage's _esm). The page itself is the
 * server's script dpo-sim-page.js (engine.js and app/ui/host_served.js with its modules, as
 * one classic script), which the page's HTML loads next to Bokeh's own scripts: so Panel
 * has no large module to transpile and the browser fetches it while Bokeh's load. This
 * module only hands Panel's render to it. */
export function render(props) {
  const page = globalThis.dpoSimServed;
  if (!page) {
    props.el.textContent = "dpo-sim: the page's script (dpo-sim-page.js) did not load; reload the page.";
    return;
  }
  page.render(props);
}
