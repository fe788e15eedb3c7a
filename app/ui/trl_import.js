/* Preference data in TRL's formats -> a scenario document: the JavaScript twin of
 * sim/trl_import.py (its docstring states the rules: formats, texts, counting, limits).
 * importTrl(text, {file, title, prompts, replies}, limits) returns the document or throws
 * a TrlImportError whose message is word for word Python's ScenarioError ("file: field:
 * rule"; the CLI prints it after "dpo-sim: "). file defaults to "pasted text", limits to
 * TRL_LIMITS (pass the page's DATA.limits). readTrl also gives the counts and the notes of
 * what prompts / replies left out (the watch text says it too). decodeTrl(bytes, file) is
 * a file's bytes as text, refusing what Python refuses (too large; not UTF-8, at the same
 * byte offset). tests/test_trl_import.py runs both languages on the same inputs. The
 * document is always a table model (no [model]): preference data has no feature vectors. */

export const TRL_LIMITS = { MAX_PROMPTS: 4, MAX_REPLIES: 6, MAX_ROWS: 24, MAX_TEXT: 400,
  MAX_TITLE: 80 };
export const MAX_FILE_BYTES = 20000000;
export const MAX_DEPTH = 16;
export const IMPORT_SETTINGS = { beta: 1.0, learning_rate: 0.5, adaptive_weight: true,
  steps: 400 };

const ROLE = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
// Python's str.strip() white space, less the control characters refused before it is used
const BLANK = /^[\t\n \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
const JSON_BLANK = /^[ \t\n\r]*$/;

export class TrlImportError extends Error {
  constructor(file, field, rule) {
    super(`${file}: ${field}: ${rule}`);
    this.name = "TrlImportError";
    this.file = file;
    this.field = field;
    this.rule = rule;
  }
}

function hasOwn(o, k) {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function kind(v) {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  if (typeof v === "string") return "a string";
  if (Array.isArray(v)) return "a list";
  return "an object";
}

function loc(where, path) {
  if (!path) return where;
  return where.startsWith("[") ? `${where}.${path}` : `${where}, ${path}`;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function and(items) {
  const s = items.map(String);
  return s.length === 1 ? s[0] : s.slice(0, -1).join(", ") + " and " + s[s.length - 1];
}

function hex4(code) {
  return code.toString(16).toUpperCase().padStart(4, "0");
}

function isControl(c) {
  return (c <= 0x08) || (c >= 0x0b && c <= 0x1f) || (c >= 0x7f && c <= 0x9f);
}

/** The code unit index of the first lone surrogate, or -1. */
function loneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

function firstControl(s, lineBreaks = false) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isControl(c) || (lineBreaks && (c === 0x09 || c === 0x0a))) return i;
  }
  return -1;
}

function codePoints(s) {
  return Array.from(s).length;
}

/** The first byte offset where the bytes stop being UTF-8 (CPython's UnicodeDecodeError
 * start: the first byte of the bad sequence), or -1. */
function badUtf8(b) {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let need, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return i;
      const d = b[i + k];
      if (k === 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** A file's bytes (a Uint8Array) as text, or a TrlImportError naming the file. */
export function decodeTrl(bytes, file) {
  if (bytes.length > MAX_FILE_BYTES) {
    throw new TrlImportError(file, "file", `is ${bytes.length} bytes; at most ${MAX_FILE_BYTES} `
      + "bytes can be imported");
  }
  const at = badUtf8(bytes);
  if (at >= 0) {
    const byte = bytes[at].toString(16).padStart(2, "0");
    throw new TrlImportError(file, "file", `is not UTF-8 text: byte 0x${byte} at byte offset `
      + `${at} does not belong there`);
  }
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

function depthOver(text, limit) {
  let depth = 0, inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === "\\") i++;
      else if (c === "\"") inStr = false;
    } else if (c === "\"") inStr = true;
    else if (c === "[" || c === "{") {
      depth++;
      if (depth > limit) return true;
    } else if (c === "]" || c === "}") depth--;
  }
  return false;
}

class Reader {
  constructor(file, limits) {
    this.file = file;
    this.L = limits;
  }

  fail(field, rule) {
    throw new TrlImportError(this.file, field, rule);
  }

  text(v, field, limit = true) {
    if (typeof v !== "string") this.fail(field, `must be a string, got ${kind(v)}`);
    v = v.replace(/\r\n/g, "\n").replace(/\r/g, "\n");
    const s = loneSurrogate(v);
    if (s >= 0) {
      this.fail(field, `contains U+${hex4(v.charCodeAt(s))}, half of a surrogate pair, which `
        + "is not text");
    }
    const c = firstControl(v);
    if (c >= 0) {
      this.fail(field, `contains the control character U+${hex4(v.charCodeAt(c))}; only `
        + "newline and tab are allowed");
    }
    if (BLANK.test(v)) this.fail(field, "must not be empty");
    if (limit) this.length(v, field);
    return v;
  }

  length(v, field) {
    const n = codePoints(v);
    if (n > this.L.MAX_TEXT) {
      this.fail(field, `is ${n} characters long; the page shows at most ${this.L.MAX_TEXT}`);
    }
  }

  messages(v, field) {
    if (!Array.isArray(v)) {
      this.fail(field, `must be a list of messages {role, content}, got ${kind(v)}`);
    }
    if (v.length === 0) this.fail(field, "must hold at least one message");
    return v.map((m, i) => {
      const f = `${field}[${i}]`;
      if (!isObject(m)) this.fail(f, `must be a message {role, content}, got ${kind(m)}`);
      for (const key of ["role", "content"]) {
        if (!hasOwn(m, key)) this.fail(f, `"${key}" is required but missing`);
      }
      const role = m.role;
      if (typeof role !== "string") this.fail(`${f}.role`, `must be a string, got ${kind(role)}`);
      if (!ROLE.test(role)) {
        this.fail(`${f}.role`, "must be a role name such as \"user\" or \"assistant\" (a "
          + "letter, then letters, digits, _ or -; at most 32)");
      }
      if (Array.isArray(m.content)) {
        this.fail(`${f}.content`, "must be a string: content given as a list of parts (as for "
          + "images) is not supported");
      }
      return [role, this.text(m.content, `${f}.content`, false)];
    });
  }

  endsWithAssistant(msgs, field) {
    const role = msgs[msgs.length - 1][0];
    if (role !== "assistant") {
      this.fail(`${field}[${msgs.length - 1}].role`, "the last message of a reply must be from "
        + `the assistant, got "${role}"`);
    }
  }

  joined(msgs, singleRole, field) {
    const text = msgs.length === 1 && msgs[0][0] === singleRole ? msgs[0][1]
      : msgs.map(([r, c]) => `${r}: ${c}`).join("\n");
    this.length(text, field);
    return text;
  }

  example(ex, where) {
    const at = (path) => loc(where, path);
    if (!isObject(ex)) this.fail(where, `must be a JSON object (one example), got ${kind(ex)}`);
    for (const key of ["chosen", "rejected"]) {
      if (!hasOwn(ex, key)) {
        const hint = hasOwn(ex, "completion") && hasOwn(ex, "label")
          ? "; this looks like TRL's unpaired preference format (prompt, completion, label), "
            + "which has no pairs to compare" : "";
        this.fail(where, `"${key}" is required but missing${hint}`);
      }
    }
    const chosen = ex.chosen, rejected = ex.rejected;
    let p, c, r;
    if (hasOwn(ex, "prompt")) {
      const prompt = ex.prompt;
      if (typeof prompt === "string") {
        p = this.text(prompt, at("prompt"));
        for (const [key, v] of [["chosen", chosen], ["rejected", rejected]]) {
          if (typeof v !== "string") {
            this.fail(at(key), "must be a string like \"prompt\" (TRL's standard format), got "
              + kind(v));
          }
        }
        c = this.text(chosen, at("chosen"));
        r = this.text(rejected, at("rejected"));
      } else if (Array.isArray(prompt)) {
        const pm = this.messages(prompt, at("prompt"));
        for (const [key, v] of [["chosen", chosen], ["rejected", rejected]]) {
          if (!Array.isArray(v)) {
            this.fail(at(key), "must be a list of messages like \"prompt\" (TRL's "
              + `conversational format), got ${kind(v)}`);
          }
        }
        const cm = this.messages(chosen, at("chosen"));
        const rm = this.messages(rejected, at("rejected"));
        this.endsWithAssistant(cm, at("chosen"));
        this.endsWithAssistant(rm, at("rejected"));
        p = this.joined(pm, "user", at("prompt"));
        c = this.joined(cm, "assistant", at("chosen"));
        r = this.joined(rm, "assistant", at("rejected"));
      } else {
        this.fail(at("prompt"), "must be a string (TRL's standard format) or a list of "
          + `messages (conversational), got ${kind(prompt)}`);
      }
    } else {
      if (typeof chosen === "string" && typeof rejected === "string") {
        this.fail(where, "has no \"prompt\": in TRL's standard format with an implicit prompt "
          + "the texts do not say where the prompt ends; add a \"prompt\" key");
      }
      const cm = this.messages(chosen, at("chosen"));
      const rm = this.messages(rejected, at("rejected"));
      let n = 0;
      while (n < Math.min(cm.length, rm.length) && cm[n][0] === rm[n][0]
        && cm[n][1] === rm[n][1]) n++;
      if (n === 0) {
        this.fail(where, "chosen and rejected share no first message: with no \"prompt\" (an "
          + "implicit prompt) the prompt is the messages both begin with");
      }
      if (n === cm.length && n === rm.length) {
        this.fail(where, "chosen and rejected are the same conversation; an example must "
          + "compare two different replies");
      }
      if (n === cm.length || n === rm.length) {
        this.fail(where, "chosen and rejected must each go on after the messages they share "
          + "(the prompt): one of them ends there");
      }
      this.endsWithAssistant(cm, at("chosen"));
      this.endsWithAssistant(rm, at("rejected"));
      p = this.joined(cm.slice(0, n), "user", at("chosen"));
      c = this.joined(cm.slice(n), "assistant", at("chosen"));
      r = this.joined(rm.slice(n), "assistant", at("rejected"));
    }
    if (c === r) {
      this.fail(where, "chosen and rejected are the same reply; an example must compare two "
        + "different replies");
    }
    return [p, c, r];
  }
}

function parseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function examplesOf(text, rd) {
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const body = text.replace(/^[ \t\n\r]+/, "");
  if (!body) {
    rd.fail("file", "is empty: expected JSON Lines (one example per line) or a JSON array of "
      + "examples");
  }
  if (body[0] === "[") {
    if (depthOver(text, MAX_DEPTH)) {
      rd.fail("file", `nests lists and objects more than ${MAX_DEPTH} deep; an example needs 3`);
    }
    const parsed = parseJson(text);
    if (!parsed.ok) {
      rd.fail("file", "is not valid JSON (it begins with \"[\", so it is read as one JSON array "
        + "of examples)");
    }
    if (parsed.value.length === 0) rd.fail("file", "holds no examples (an empty JSON array)");
    return parsed.value.map((ex, i) => rd.example(ex, `[${i}]`));
  }
  const out = [];
  text.split("\n").forEach((line, i) => {
    if (JSON_BLANK.test(line)) return;
    const where = `line ${i + 1}`;
    if (depthOver(line, MAX_DEPTH)) {
      rd.fail(where, `nests lists and objects more than ${MAX_DEPTH} deep; an example needs 3`);
    }
    const parsed = parseJson(line);
    if (!parsed.ok) {
      rd.fail(where, "is not valid JSON (JSON Lines: one example, one JSON object, per line)");
    }
    out.push(rd.example(parsed.value, where));
  });
  return out;
}

function whole(file, option, v, lo, hi) {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new TrlImportError(file, option, `must be a whole number from ${lo} to ${hi}`);
  }
  return v;
}

function clean(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isControl(c)) { out += "\ufffd"; continue; }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { out += s[i] + s[i + 1]; i++; continue; }
    }
    out += c >= 0xd800 && c <= 0xdfff ? "\ufffd" : s[i];
  }
  return out;
}

/** The document and its counts: {doc, examples, kept, promptsInData, dropped, notes}. */
export function readTrl(text, options = {}, limits = TRL_LIMITS) {
  const L = { ...TRL_LIMITS, ...limits };
  const file = options.file ?? "pasted text";
  const rd = new Reader(file, L);
  let { title = null, prompts = null, replies = null } = options;
  if (prompts !== null && prompts !== undefined) {
    prompts = whole(file, "--prompts", prompts, 1, L.MAX_PROMPTS);
  } else prompts = null;
  if (replies !== null && replies !== undefined) {
    replies = whole(file, "--replies", replies, 2, L.MAX_REPLIES);
  } else replies = null;
  const name = clean(file.split("/").pop());
  if (title === null || title === undefined) {
    title = `Imported from ${name}`;
    if (codePoints(title) > L.MAX_TITLE) {
      title = Array.from(title).slice(0, L.MAX_TITLE - 1).join("") + "\u2026";
    }
  } else {
    if (typeof title !== "string") rd.fail("--title", `must be a string, got ${kind(title)}`);
    let at = loneSurrogate(title);
    if (at < 0) at = firstControl(title, true);   // a title is one line
    if (at >= 0) {
      rd.fail("--title", `contains U+${hex4(title.charCodeAt(at))}; a title is one line of text`);
    }
    if (BLANK.test(title)) rd.fail("--title", "must not be empty");
    const n = codePoints(title);
    if (n > L.MAX_TITLE) rd.fail("--title", `is ${n} characters long; at most ${L.MAX_TITLE}`);
  }

  const examples = examplesOf(text, rd);
  const order = new Map();              // prompt -> Map(reply -> judgements mentioning it)
  for (const [p, c, r] of examples) {
    if (!order.has(p)) order.set(p, new Map());
    const rs = order.get(p);
    for (const y of [c, r]) rs.set(y, (rs.get(y) || 0) + 1);
  }
  const P = order.size;
  if (prompts === null && P > L.MAX_PROMPTS) {
    rd.fail("prompts", `the data has ${P} prompts; the page shows at most ${L.MAX_PROMPTS}: `
      + `keep the first N with --prompts N (1 to ${L.MAX_PROMPTS})`);
  }
  const keptPrompts = prompts !== null ? [...order.keys()].slice(0, prompts) : [...order.keys()];
  const counts = keptPrompts.map((p) => order.get(p).size);
  const least = Math.min(...counts);
  let K;
  if (replies === null) {
    const same = new Set(counts).size === 1;
    if (!same || counts[0] > L.MAX_REPLIES) {
      const said = same ? `every prompt has ${counts[0]} replies`
        : `the prompts have ${and(counts)} replies`;
      rd.fail("replies", `${said}; the engine needs the same number on every prompt, at most `
        + `${L.MAX_REPLIES}: keep each prompt's N most-judged replies with --replies N (2 to `
        + `${Math.min(least, L.MAX_REPLIES)})`);
    }
    K = counts[0];
  } else {
    if (least < replies) {
      rd.fail("replies", `--replies ${replies} keeps ${replies} replies on every prompt, but `
        + `the prompts have ${and(counts)}: choose N from 2 to ${least}`);
    }
    K = replies;
  }
  const keep = new Map();
  for (const p of keptPrompts) {
    const seen = [...order.get(p).keys()];
    const ranked = seen.map((y, k) => k)
      .sort((a, b) => (order.get(p).get(seen[b]) - order.get(p).get(seen[a])) || (a - b))
      .slice(0, K).sort((a, b) => a - b);
    keep.set(p, ranked.map((k) => seen[k]));
  }

  const index = new Map();
  keptPrompts.forEach((p, x) => index.set(p, [x, new Map(keep.get(p).map((y, k) => [y, k]))]));
  const rows = new Map();               // "x,a,b" first seen -> [x, a, b, for, against]
  let kept = 0;
  for (const [p, c, r] of examples) {
    if (!index.has(p)) continue;
    const [x, ix] = index.get(p);
    if (!ix.has(c) || !ix.has(r)) continue;
    kept++;
    const a = ix.get(c), b = ix.get(r);
    if (rows.has(`${x},${a},${b}`)) rows.get(`${x},${a},${b}`)[3]++;
    else if (rows.has(`${x},${b},${a}`)) rows.get(`${x},${b},${a}`)[4]++;
    else rows.set(`${x},${a},${b}`, [x, a, b, 1, 0]);
  }
  const dropped = examples.length - kept;
  if (rows.size === 0) {
    rd.fail("pairs", `no judgement is left: each of the ${examples.length} mentions a reply `
      + `that --replies ${replies} leaves out`);
  }
  if (rows.size > L.MAX_ROWS) {
    rd.fail("pairs", `the data has ${rows.size} rows (distinct pairs of replies on a prompt); `
      + `the page shows at most ${L.MAX_ROWS}: keep fewer with --prompts N or --replies N`);
  }
  const pairs = [];
  let repeats = 0, reverses = 0, turned = 0;
  for (const [x, a0, b0, f0, g0] of rows.values()) {
    let a = a0, b = b0, vFor = f0, vAgainst = g0;
    repeats += vFor - 1;
    reverses += vAgainst;
    if (vAgainst > vFor) {
      turned++;
      [a, b, vFor, vAgainst] = [b, a, vAgainst, vFor];
    }
    pairs.push({ prompt: x, chosen: a, rejected: b, votes_chosen: vFor,
      votes_rejected: vAgainst });
  }

  const later = kept - pairs.length;
  let watch = `Imported from ${name}: ${plural(kept, "judgement", "judgements")} (one per `
    + `example) on ${plural(keptPrompts.length, "prompt", "prompts")} with ${K} replies each, `
    + `in ${plural(pairs.length, "row", "rows")} (pairs of replies)`;
  if (later) {
    watch += `; ${plural(later, "judgement repeats a pair", "judgements repeat a pair")} `
      + `already seen, ${repeats} the same way as its first judgement and ${reverses} the `
      + "other way.";
  } else watch += ": each pair is judged once.";
  if (turned) {
    watch += ` In ${plural(turned, "row", "rows")} the first judgement seen was outvoted, so `
      + "chosen is the majority's side.";
  }
  const notes = [];
  if (dropped) {
    const why = [];
    if (keptPrompts.length < P) why.push(`a prompt after the first ${keptPrompts.length} of ${P}`);
    if (replies !== null) why.push(`a reply outside each prompt's ${K} most-judged`);
    notes.push(`left out ${dropped} of ${examples.length} judgements: each mentions `
      + why.join(" or "));
    watch += ` It ${notes[0]}.`;
  }
  watch += ` The reference is uniform: every reply starts with the same probability, 1/${K}.`;
  const doc = { title, watch, ...IMPORT_SETTINGS, reference: { kind: "uniform" },
    prompts: keptPrompts.map((p) => ({ text: p, replies: keep.get(p).slice() })), pairs };
  return { doc, examples: examples.length, kept, promptsInData: P, dropped, notes };
}

/** The scenario document of TRL preference data (see readTrl). */
export function importTrl(text, options = {}, limits = TRL_LIMITS) {
  return readTrl(text, options, limits).doc;
}
