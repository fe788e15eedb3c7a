// app/ui/channel.js over a made-up network that loses, delays, reorders and duplicates
// messages both ways, against a server that follows the protocol's rule (run numbered
// commands in their order, each once; answer a number already run with the same reply).
// Prints, per seed: the order the page took its replies in, the order the server ran the
// commands in, and how many commands the page sent again. (tests/test_channel.py)
import { makeChannel } from "../app/ui/channel.js";

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}
const N = 30, out = [];
for (let seed = 1; seed <= 300; seed++) {
  const r = rng(seed);
  const lose = seed % 3 === 0 ? 0 : 0.15;            // every third seed: nothing lost
  let now = 0;
  const flight = [];                                  // { at, to: "server" | "page", msg }
  const net = (to, msg) => {
    const copies = r() < 0.05 ? 2 : 1;                // now and then a message comes twice
    for (let c = 0; c < copies; c++) {
      if (r() < lose) continue;
      flight.push({ at: now + 1 + Math.floor(r() * 80), to: to, msg: JSON.parse(JSON.stringify(msg)) });
    }
  };
  const server = { next: 1, early: new Map(), sent: new Map(), ran: [] };
  function serverTake(msg) {
    const s = msg._seq;
    if (s < server.next) { if (server.sent.has(s)) net("page", server.sent.get(s)); return; }
    server.early.set(s, msg);
    while (server.early.has(server.next)) {
      const m = server.early.get(server.next);
      server.early.delete(server.next);
      server.ran.push(m.i);
      const reply = { i: m.i, _seq: server.next };
      server.sent.set(server.next, reply);
      server.next += 1;
      net("page", reply);
    }
  }
  const ch = makeChannel((m) => net("server", m), () => now);
  const got = [];
  for (let i = 1; i <= N; i++) ch.send({ op: "x", i: i }, (rep) => got.push(rep.i));
  while (now < 120000 && got.length < N) {
    now += 10;
    const due = flight.filter((f) => f.at <= now);
    for (let k = due.length - 1; k > 0; k--) {        // what is due arrives in any order
      const j = Math.floor(r() * (k + 1));
      [due[k], due[j]] = [due[j], due[k]];
    }
    for (const f of due) {
      flight.splice(flight.indexOf(f), 1);
      if (f.to === "server") serverTake(f.msg);
      else ch.receive(f.msg);
    }
    if (now % 1000 === 0) ch.tick();
  }
  out.push({ seed: seed, lose: lose, got: got, ran: server.ran, stats: ch.stats() });
}
console.log(JSON.stringify(out));
