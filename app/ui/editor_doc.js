/* The editor's edits of a scenario document that are not one field's value: the model's kind
 * and, for a features model (sim/model.py), the feature length d, each reply's vector and θ₀.
 * Pure functions of the document (no DOM), so the tests run them under Node; the editor
 * (views/editor.js) calls them and then checks the document with lesson.js's checkDoc, which
 * says what is still wrong at its field. */

/** A typed number field's value: a number when the text is one, else the text itself (so
 * the validator says what is wrong with it, as it would in a TOML file: "NaN" and markup
 * stay strings, "1e999" becomes Infinity and is refused as not finite). */
export function numberOf(text) {
  const t = text.trim();
  if (t === "") return t;
  if (t === "true" || t === "false") return t === "true";
  const v = Number(t);
  return Number.isNaN(v) ? text : v;
}

export function modelKind(doc) {
  return doc.model && typeof doc.model === "object" && doc.model.kind === "features" ? "features" : "table";
}

/** d: the length of the first reply's vector (the validator's rule), at least 1. */
export function featuresD(doc) {
  const p = (doc.prompts || [])[0];
  const v = p && Array.isArray(p.features) ? p.features[0] : null;
  return Array.isArray(v) && v.length ? v.length : 1;
}

/** The unit vector e_k of length d (0 beyond d). */
function unit(k, d) { return Array.from({ length: d }, (_, j) => (j === k ? 1 : 0)); }

/** Switch the model. To features: d = the replies per prompt (at most maxD), reply k's vector
 * e_k (replies at the same place share a coordinate across prompts), θ₀ = 0, and no start
 * logits (a features model has none). To the table: no [model], no features. */
export function setModelKind(doc, kind, maxD) {
  if (kind === modelKind(doc)) return doc;
  if (kind === "features") {
    const k = Math.max(...doc.prompts.map((p) => (Array.isArray(p.replies) ? p.replies.length : 0)), 1);
    const d = Math.min(Math.max(k, 1), maxD);
    doc.model = { kind: "features" };
    delete doc.init;
    for (const p of doc.prompts) p.features = (Array.isArray(p.replies) ? p.replies : []).map((_, j) => unit(j, d));
  } else {
    delete doc.model;
    for (const p of doc.prompts) delete p.features;
  }
  return doc;
}

function resize(v, d) {
  if (!Array.isArray(v)) return v;
  return v.length >= d ? v.slice(0, d) : v.concat(Array(d - v.length).fill(0));
}

/** Every vector and θ₀ to length d: coordinates past d dropped, new ones 0. */
export function setFeaturesD(doc, d) {
  for (const p of doc.prompts) if (Array.isArray(p.features)) p.features = p.features.map((v) => resize(v, d));
  if (doc.model && Array.isArray(doc.model.init_theta)) doc.model.init_theta = resize(doc.model.init_theta, d);
  return doc;
}

/** A reply added to prompt x (a features model: its vector all 0). */
export function addReplyVector(doc, x) {
  const p = doc.prompts[x];
  if (modelKind(doc) === "features" && Array.isArray(p.features)) p.features.push(Array(featuresD(doc)).fill(0));
}

/** Reply k of prompt x removed: its vector goes with it. */
export function removeReplyVector(doc, x, k) {
  const p = doc.prompts[x];
  if (p && Array.isArray(p.features)) p.features.splice(k, 1);
}

/** A new prompt's vectors (a features model): e_k, as setModelKind gives. */
export function newPromptVectors(doc, k) {
  const d = featuresD(doc);
  return Array.from({ length: k }, (_, j) => unit(j, d));
}

/** One typed cell: reply k of prompt x, coordinate j (the text as numberOf reads it). */
export function setFeatureCell(doc, x, k, j, text) {
  doc.prompts[x].features[k][j] = numberOf(text);
}

/** One typed coordinate of θ₀ (θ₀ is written only once a coordinate is typed). */
export function setThetaCell(doc, j, text) {
  if (!Array.isArray(doc.model.init_theta)) doc.model.init_theta = Array(featuresD(doc)).fill(0);
  doc.model.init_theta[j] = numberOf(text);
}
