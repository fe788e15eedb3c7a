/* Numbers as the page writes them (the rules of app/numfmt.py, which the CLI and the
 * closing texts use): fixed decimals with a sign when asked, exponents past 1e5, "0" for
 * a negative zero, percentages. One copy for every view on both hosts. */

export function pad(t) { return t.replace(/e([+-])(\d)$/, "e$10$2"); }

export function fixed(v, digits = 3, sign = false) {
  if (!Number.isFinite(v)) {
    return Number.isNaN(v) ? "NaN" : ((v > 0 && sign) ? "+" : v < 0 ? "-" : "") + "∞";
  }
  if (Math.abs(v) >= 1e5) {
    const t = pad(v.toExponential(2));
    return (sign && v > 0 ? "+" : "") + t;
  }
  let t = v.toFixed(digits);
  // toFixed rounds a value lying exactly half-way (0.15625 to 4 decimals) away from 0;
  // Python's format, which the CLI and numfmt use, rounds it to the even neighbour (0.1562)
  const full = Math.abs(v).toFixed(100);
  const cut = full.indexOf(".") + 1 + digits;
  if (/^50*$/.test(full.slice(cut))) {
    const down = full.slice(0, digits ? cut : cut - 1);
    if (parseInt(down[down.length - 1], 10) % 2 === 0) t = (v < 0 ? "-" : "") + down;
  }
  if (parseFloat(t) === 0) return t.replace(/^[+-]/, "");
  return (sign && !t.startsWith("-") ? "+" : "") + t;
}

/** fixed() with a true minus sign (U+2212), as numfmt.minus writes the formula strip. */
export function minus(v, digits = 3, sign = false) {
  return fixed(v, digits, sign).replace(/^-/, "\u2212");
}

export function small(v, digits = 3) {
  if (v === 0) return "0";
  if (Math.abs(v) >= Math.pow(10, -digits)) return fixed(v, digits);
  return pad(v.toExponential(1));
}

export function pct(v, digits = 0) {
  const t = (100 * v).toFixed(digits);
  return (parseFloat(t) === 0 ? t.replace(/^-/, "") : t) + "%";
}

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** A reply's letter: A, B, ... Z, A1, ... */
export function letter(y) {
  return LETTERS[y % 26] + (y < 26 ? "" : String(Math.floor(y / 26)));
}

export function shortText(text, n = 32) {
  return text.length <= n ? text : text.slice(0, n - 1).replace(/\s+$/, "") + "…";
}

/** A text with its {name} fields filled in (Python's str.format with names only). */
export function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (all, k) => (k in values ? String(values[k]) : all));
}
