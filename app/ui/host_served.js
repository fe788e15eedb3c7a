/* The served page's host: Panel draws this module (a JSComponent's _esm); the NumPy engine
 * on the server answers the page's commands, one message each (sim/protocol.py), taken in
 * the order they were sent (app/ui/channel.js).
 * (engine.js comes first in the same script for Python's number formats, app/ui/pyfmt.js,
 * and the settings' checks; no number on this page comes from it.) */
import { startPage } from "./page.js";
import { watchConnection } from "./reconnect.js";
import { makeChannel } from "./channel.js";

export function render({ model, el, view }) {
  // dpo-sim serve's pages share their data, sent once in its script (app/page.py page_script)
  const own = JSON.parse(model.data);
  const DATA = own.shared ? Object.assign({}, globalThis.dpoSimData, own) : own;
  const channel = makeChannel((msg) => model.send_msg(msg), () => performance.now());
  setInterval(channel.tick, 1000);
  const NONFINITE = { __NaN__: NaN, __Inf__: Infinity, "__-Inf__": -Infinity };
  const revive = (k, v) => (typeof v === "string" && v in NONFINITE ? NONFINITE[v] : v);
  const requests = new Map();     // the stacks of runs, answered out of turn (by _rid)
  let rid = 0;
  model.on("msg:custom", (msg) => {
    const reply = typeof msg === "string" ? JSON.parse(msg, revive) : msg;
    if (reply && reply._rid !== undefined) {
      const cb = requests.get(reply._rid);
      requests.delete(reply._rid);
      if (cb) cb(reply);
      return;
    }
    if (reply && reply._seq !== undefined) channel.receive(reply);
  });
  const engine = {
    depth: 2,
    send(cmd, onReply) { channel.send(cmd, onReply); },
    request(cmd, cb) {
      if (cmd.op === "frontier" || cmd.op === "sweep") {
        rid += 1;
        requests.set(rid, cb);
        model.send_msg(Object.assign({}, cmd, { _rid: rid }));
      } else channel.send(cmd, cb);
    },
  };
  const root = document.createElement("div");
  el.append(root);
  startPage(root, DATA, engine, {
    engineName: "numpy", checkLive: window.DPO.checkLive,
    shareable: DATA.shareable, writeAddress: DATA.shareable, note: null,
    setTitle: (t) => { document.title = t; },
    // the server's offline file (app/server.py's OFFLINE_ROUTE, next to this page)
    offlineHtml: !DATA.shareable ? null : () => fetch(new URL("offline", location.href), { credentials: "same-origin" }).then((r) => {
      if (!r.ok) throw new Error("this server has no offline file (HTTP " + r.status + " for /offline)");
      return r.text();
    }),
    themed: (p) => { document.body.style.background = p.background; document.documentElement.style.colorScheme = p.name; },
  });
  if (view && view.model && view.model.document) {
    watchConnection(view.model.document, DATA.texts, () => (window.dpoSim ? window.dpoSim.stats().step : 0),
                    () => (window.dpoSim ? window.dpoSim.link() : null),
                    () => DATA.palettes[root.firstChild.dataset.theme || "light"]);
  }
}
