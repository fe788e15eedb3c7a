/* The offline file's answer to a view's heavy requests (ctx.request, docs/ui.md): the
 * frontier and the sweep map computed by app/offline/stack.js with the twin engine, each in
 * its own Web Worker built from a Blob of the two scripts' texts (nothing fetched: it works
 * from file://), so the page keeps drawing while 4,096 runs go on.
 *
 *   const request = makeOfflineRequest(engineText, stackText, () => sim);
 *   request({op: "sweep"}, (reply) => ...);
 *
 * - engineText, stackText: the texts of app/offline/engine.js and app/offline/stack.js (the
 *   offline file carries them inline);
 * - simOf: a function giving the live DPO.Simulation (its rows after flips, its loss in
 *   force, its scenario): read when the request is made, sent to the worker as
 *   DPOStack.snapshot(sim).
 * A newer request of an op supersedes an older unfinished one: that worker is stopped and
 * its callback never called. A reply that failed comes as {error: message}. Where a Worker
 * cannot be made, the request is computed on the page's thread, after the current task.
 * request.close() stops the workers. */

/** DPOStack on this page: the page's own (a <script> of stack.js), else made from its text. */
function offlineStackModule(engineText, stackText) {
  if (globalThis.DPOStack) return globalThis.DPOStack;
  if (!globalThis.DPO) new Function(engineText)();
  new Function(stackText)();
  return globalThis.DPOStack;
}

export function makeOfflineRequest(engineText, stackText, simOf) {
  const S = offlineStackModule(engineText, stackText);
  const source = engineText + "\n;\n" + stackText + "\n;\nDPOStack.serveWorker(self);\n";
  let url = null;
  const slots = {};           // op -> {worker, busy: id of the request in flight, cb}
  let seq = 0;

  function direct(cmd, cb, input) {
    setTimeout(() => {
      let reply;
      try {
        reply = cmd.op === "sweep" ? S.sweepReply(input, cmd) : S.frontierReply(input, cmd);
      } catch (e) {
        reply = { error: String(e && e.message ? e.message : e) };
      }
      const slot = slots[cmd.op];
      if (slot && slot.busy === cmd._id) { slot.busy = 0; cb(reply); }
    }, 0);
  }

  function spawn(op) {
    if (url === null) url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const worker = new Worker(url);
    worker.onmessage = (ev) => {
      const slot = slots[op];
      if (!slot || slot.worker !== worker || ev.data.id !== slot.busy) return;
      slot.busy = 0;
      slot.cb(ev.data.error !== undefined ? { error: ev.data.error } : ev.data.reply);
    };
    return worker;
  }

  // a request is sent after the screen update that asked for it is painted (a flip shows
  // first; the worker's start and the run's copy come after); the run is read at once
  function request(cmd, cb) {
    const input = S.snapshot(simOf());
    requestAnimationFrame(() => setTimeout(() => send(cmd, cb, input), 0));
  }
  function send(cmd, cb, input) {
    const op = cmd.op;
    if (op !== "frontier" && op !== "sweep") throw new RangeError("unknown op " + op);
    const id = ++seq;
    let slot = slots[op];
    if (!slot) slot = slots[op] = { worker: null, busy: 0, cb: null, direct: false };
    if (slot.busy && slot.worker) {              // superseded: stop the older computation
      slot.worker.terminate();
      slot.worker = null;
    }
    slot.busy = id;
    slot.cb = cb;
    if (!slot.direct && !slot.worker) {
      try {
        slot.worker = spawn(op);
      } catch {
        slot.direct = true;                     // no workers here: the page's own thread
      }
    }
    const sent = Object.assign({}, cmd);
    if (slot.direct) {
      sent._id = id;
      direct(sent, cb, input);
    } else {
      slot.worker.postMessage({ id: id, input: input, cmd: sent });
    }
  }

  request.close = () => {
    for (const op in slots) {
      if (slots[op].worker) slots[op].worker.terminate();
      slots[op].worker = null;
      slots[op].busy = 0;
    }
    if (url !== null) URL.revokeObjectURL(url);
    url = null;
  };
  return request;
}
