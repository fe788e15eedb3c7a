/* The served page's commands and replies, each in its order whatever happens on the way.
 * Panel may hold a message or let a later one overtake it (it schedules an event for a later
 * turn of the server's loop until the page's session counts as connected, and dispatches
 * others at once), and a page then waited for ever for a reply it never matched: one page in
 * ~40 when four opened at once on one server (found by opening them so). So each command
 * carries a number, `_seq`; the server runs them in that order and answers each once, with
 * its number (app/page.py `InOrder`); a reply that comes early waits here for the ones
 * before it; and a command still unanswered after RESEND_MS goes again (the server answers a
 * number it has already run with the same reply, without running it twice). */
export const RESEND_MS = 3000;

/** post(msg) sends one message; clock() is the time in ms. */
export function makeChannel(post, clock) {
  let seq = 0, next = 1, resent = 0;
  const pending = new Map();        // seq -> { msg, cb, sent }, until its reply is taken
  const early = new Map();          // seq -> reply that came before those it follows
  function send(cmd, cb) {
    seq += 1;
    const msg = Object.assign({}, cmd, { _seq: seq });
    pending.set(seq, { msg: msg, cb: cb, sent: clock() });
    post(msg);
  }
  /** A reply carrying _seq: taken in order; false if it was one already taken. */
  function receive(reply) {
    const s = reply._seq;
    if (!pending.has(s) || early.has(s)) return false;
    early.set(s, reply);
    while (early.has(next)) {
      const r = early.get(next), p = pending.get(next);
      early.delete(next); pending.delete(next);
      next += 1;
      delete r._seq;
      if (p.cb) p.cb(r);
    }
    return true;
  }
  /** Send again each command unanswered for RESEND_MS (call it now and then). */
  function tick() {
    const now = clock();
    for (const [s, p] of pending) {
      if (!early.has(s) && now - p.sent >= RESEND_MS) { p.sent = now; resent += 1; post(p.msg); }
    }
  }
  return { send: send, receive: receive, tick: tick,
           stats: () => ({ pending: pending.size, early: early.size, resent: resent }) };
}
