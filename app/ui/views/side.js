/* The side column: the speed, the scenario picker and its "what to watch", a control per
 * live setting of the table (each with its line of help), Download CSV and Share. */
import { el, term } from "../dom.js";

function fmtSlider(s, v) { return s.kind === "whole" ? String(v) : v.toFixed(2); }

export function mountSide(side, ctx) {
  const { T, ctl, rules } = ctx;
  const controls = {}, boxes = {};
  for (const s of rules.CONTROLS) {
    const box = el("div", { class: "dpo-control dpo-part-" + (s.url || s.name), "data-setting": s.name });
    const id = "ctl-" + s.name;
    let input;
    if (s.kind === "number" || s.kind === "whole") {
      const vb = el("b");
      const lab = el("label", { for: id }, s.label + ": ", vb);
      input = el("input", { type: "range", id: id, min: s.slider[0], max: s.slider[1], step: s.slider[2],
                            "data-testid": "ctl-" + (s.url || s.name) });
      // a drag is one action: the change lands when the slider is released
      input.addEventListener("input", () => { vb.textContent = fmtSlider(s, +input.value); });
      input.addEventListener("change", () => {
        ctl.setSettings({ [s.name]: s.kind === "whole" ? parseInt(input.value, 10) : +input.value });
      });
      box.append(lab, input);
      input._value = vb;
    } else if (s.kind === "flag") {
      input = el("button", { type: "button", class: "dpo-toggle", id: id, "aria-pressed": "false",
                             "data-testid": "ctl-" + (s.url || s.name) });
      input.addEventListener("click", () => ctl.setSettings({ [s.name]: !ctl.app.state[s.name] }));
      box.append(input);
    } else {
      input = el("select", { id: id, "data-testid": "ctl-" + (s.url || s.name) });
      for (const o of s.options) input.append(el("option", { value: o }, o));
      input.addEventListener("change", () => ctl.setSettings({ [s.name]: input.value }));
      box.append(el("label", { for: id }, s.label), input);
    }
    box.append(el("div", { class: "dpo-help", text: s.help }));
    // a challenge that does not let the learner move this control: disabled, and why
    const lock = el("div", { class: "dpo-help dpo-lock", "data-testid": "lock-" + (s.url || s.name) });
    lock.hidden = true;
    box.append(lock);
    input._lock = lock;
    controls[s.name] = input;
    boxes[s.name] = box;
  }
  const picker = el("select", { id: "ctl-scenario", "data-testid": "picker" });
  picker.addEventListener("change", () => ctl.load(picker.value));
  const pickerBox = el("div", { class: "dpo-control dpo-part-picker" },
    el("span", { class: "lab" }, el("label", { for: "ctl-scenario" }, "Scenario "), term("?", T.PICKER_HELP)), picker);
  const watch = el("div", { class: "dpo-watch dpo-part-watch", "data-testid": "watch" });
  const download = el("button", { type: "button", class: "dpo-btn dpo-part-download", "data-testid": "download" }, "Download CSV");
  download.addEventListener("click", () => ctl.csv((text) => {
    const blob = new Blob([text], { type: "text/csv" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "dpo-sim-" + ctl.app.id + ".csv" });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }));
  const share = mountShare(ctx);
  const sliders = rules.CONTROLS.filter((s) => s.scope !== "page").map((s) => boxes[s.name]);
  side.append(el("h2", { class: "dpo-h", text: "Settings" }));
  for (const s of rules.CONTROLS) if (s.scope === "page") side.append(boxes[s.name]);
  side.append(pickerBox, watch, ...sliders, download, share.box);
  let pickerFor = null;

  return {
    parts: { sliders: rules.CONTROLS.map((s) => boxes[s.name]), picker: [pickerBox], watch: [watch], download: [download], share: [share.box],
             ...Object.fromEntries(rules.CONTROLS.filter((s) => s.hideable && s.url).map((s) => [s.url, [boxes[s.name]]])) },
    update(view, why) {
      if (why === "step") return;
      if (pickerFor !== ctl.order.length) {
        pickerFor = ctl.order.length;
        picker.textContent = "";
        for (const id of ctl.order) picker.append(el("option", { value: id }, ctl.scenarios[id].title));
      }
      picker.value = view.id;
      watch.textContent = "";
      watch.append(el("b", { text: "What to watch:" }), " " + (view.cfg.watch || ""));
      // a reply to an earlier set must not move a control back while a later set is on its
      // way (three quick → on a slider, served): show what the run will be once answered
      const want = ctl.intended ? ctl.intended() : view.state;
      for (const s of rules.CONTROLS) {
        const input = controls[s.name];
        const v = s.scope === "page" ? view[s.name] : want[s.name];
        if (s.kind === "number" || s.kind === "whole") {
          // a valid value outside the usual range widens the slider
          input.min = Math.min(s.slider[0], v); input.max = Math.max(s.slider[1], v);
          input.value = v;
          input._value.textContent = fmtSlider(s, v);
        } else if (s.kind === "flag") {
          input.textContent = s.label + ": " + (v ? "on" : "off");
          input.setAttribute("aria-pressed", String(!!v));
        } else input.value = v;
        const locked = s.scope !== "page" && !!(view.guard && view.guard({ set: { [s.name]: v } }));
        if (input.disabled !== locked) input.disabled = locked;
        input._lock.hidden = !locked;
        input._lock.textContent = locked ? view.lockReason : "";
      }
      share.fill(view);
    },
  };
}

function mountShare(ctx) {
  const { T } = ctx;
  const box = el("div", { class: "dpo-share dpo-part-share" });
  const toggle = el("button", { type: "button", class: "dpo-btn", "aria-expanded": "false", "data-testid": "share",
                                "aria-controls": "share-panel" }, "Share");
  const panel = el("div", { class: "panel", id: "share-panel", role: "group", "aria-label": "Share this view" });
  panel.hidden = true;
  const note = el("p", { class: "note", "data-testid": "share-note" });
  const link = el("input", { id: "share-link", "data-testid": "share-link", type: "text", readonly: "", spellcheck: "false" });
  const embed = el("textarea", { id: "share-embed", "data-testid": "share-embed", readonly: "", rows: "4", spellcheck: "false" });
  const status = el("p", { class: "status", "data-testid": "share-status", role: "status", "aria-live": "polite" });
  const copyLink = el("button", { type: "button", class: "dpo-btn" }, "Copy link");
  const copyEmbed = el("button", { type: "button", class: "dpo-btn" }, "Copy embed code");
  panel.append(note, el("label", { for: "share-link" }, "Link to this view"), el("div", { class: "line" }, link, copyLink),
               el("label", { for: "share-embed" }, "Embed in a page (iframe)"), embed,
               el("div", { class: "line" }, copyEmbed), status);
  box.append(toggle, panel);
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;")
    .replace(/</g, "&lt;").replace(/>/g, "&gt;");
  let last = null;
  function fill(view) {
    last = view;
    if (panel.hidden) return;
    note.textContent = view.playing ? T.PLAYING_NOTE : "";
    note.hidden = !view.playing;
    const url = ctx.link();
    link.value = url;
    embed.value = '<iframe src="' + esc(url) + '" width="100%" height="' + T.EMBED_HEIGHT
      + '" style="border:0" title="' + esc("dpo-sim: " + view.cfg.title) + '"></iframe>';
  }
  const show = (open) => {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { fill(last); status.textContent = ""; link.focus(); link.select(); }
  };
  toggle.addEventListener("click", () => show(panel.hidden));
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); show(false); toggle.focus(); } });
  const copy = async (field, what) => {
    field.focus(); field.select();
    try { await navigator.clipboard.writeText(field.value); status.textContent = "Copied the " + what + "."; return; } catch { /* not allowed */ }
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    status.textContent = ok ? "Copied the " + what + "." : "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
  };
  copyLink.addEventListener("click", () => copy(link, "link"));
  copyEmbed.addEventListener("click", () => copy(embed, "embed code"));
  return { box, fill };
}
