/* Helpers of the frontier and the sweep map (app/ui/views/frontier.js, sweep.js): texts with
 * {name} slots filled in, Python's "g" number format, the sweep's colour map. Names are
 * unique across app/ui (app/bundle.py joins the modules into one scope). */

/** The same, as DOM content: a slot whose value is a Node is put in as that node, the rest
 *  as text (user text never goes in as markup). */
export function stackFillNodes(tpl, vals) {
  const out = [];
  let last = 0;
  tpl.replace(/\{(\w+)\}/g, (m, k, at) => {
    if (!(k in vals)) return m;
    out.push(tpl.slice(last, at));
    const v = vals[k];
    out.push(v instanceof Node ? v : String(v));
    last = at + m.length;
    return m;
  });
  out.push(tpl.slice(last));
  return out.filter((x) => x !== "");
}

/** A whole number with thousands separators, as Python's f"{n:,}". */
export function stackGrouped(n) {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A short stroke in a line's colour and dash, then its name (a legend item). */
export function stackLegendItem(name, colour, dash, width, marker) {
  const c = document.createElement("canvas");
  c.width = 28; c.height = 12; c.className = "dpo-stack-key";
  c.setAttribute("aria-hidden", "true");
  c._key = { colour, dash, width, marker };
  const span = document.createElement("span");
  span.className = "dpo-stack-legend-item";
  span.append(c, name);
  return span;
}

/** (Re)draw a legend item's stroke, e.g. after a change of theme. */
export function stackDrawKey(c, colour, outline) {
  const g = c.getContext("2d");
  const k = c._key;
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = colour;
  g.fillStyle = colour;
  g.lineWidth = k.width;
  if (k.marker === "diamond") {
    g.beginPath(); g.moveTo(14, 1); g.lineTo(19, 6); g.lineTo(14, 11); g.lineTo(9, 6);
    g.closePath(); g.fill();
    g.lineWidth = 1; g.strokeStyle = outline; g.stroke();
    return;
  }
  g.setLineDash(k.dash === "dotted" ? [2, 3] : k.dash === "dashed" ? [6, 4] : []);
  g.beginPath(); g.moveTo(1, 6); g.lineTo(27, 6); g.stroke();
}

/** Cividis (Bokeh's Cividis256): a colour map readable with every common colour-vision
 *  deficiency, the Panel map's. */
export const STACK_CIVIDIS = [
  "#00204C", "#00204E", "#002150", "#002251", "#002353", "#002355", "#002456", "#002558",
  "#00265A", "#00265B", "#00275D", "#00285F", "#002861", "#002963", "#002A64", "#002A66",
  "#002B68", "#002C6A", "#002D6C", "#002D6D", "#002E6E", "#002E6F", "#002F6F", "#002F6F",
  "#00306F", "#00316F", "#00316F", "#00326E", "#00336E", "#00346E", "#00346E", "#01356E",
  "#06366E", "#0A376D", "#0E376D", "#12386D", "#15396D", "#17396D", "#1A3A6C", "#1C3B6C",
  "#1E3C6C", "#203C6C", "#223D6C", "#243E6C", "#263E6C", "#273F6C", "#29406B", "#2B416B",
  "#2C416B", "#2E426B", "#2F436B", "#31446B", "#32446B", "#33456B", "#35466B", "#36466B",
  "#37476B", "#38486B", "#3A496B", "#3B496B", "#3C4A6B", "#3D4B6B", "#3E4B6B", "#404C6B",
  "#414D6B", "#424E6B", "#434E6B", "#444F6B", "#45506B", "#46506B", "#47516B", "#48526B",
  "#49536B", "#4A536B", "#4B546B", "#4C556B", "#4D556B", "#4E566B", "#4F576C", "#50586C",
  "#51586C", "#52596C", "#535A6C", "#545A6C", "#555B6C", "#565C6C", "#575D6D", "#585D6D",
  "#595E6D", "#5A5F6D", "#5B5F6D", "#5C606D", "#5D616E", "#5E626E", "#5F626E", "#5F636E",
  "#60646E", "#61656F", "#62656F", "#63666F", "#64676F", "#65676F", "#666870", "#676970",
  "#686A70", "#686A70", "#696B71", "#6A6C71", "#6B6D71", "#6C6D72", "#6D6E72", "#6E6F72",
  "#6F6F72", "#6F7073", "#707173", "#717273", "#727274", "#737374", "#747475", "#757575",
  "#757575", "#767676", "#777776", "#787876", "#797877", "#7A7977", "#7B7A77", "#7B7B78",
  "#7C7B78", "#7D7C78", "#7E7D78", "#7F7E78", "#807E78", "#817F78", "#828078", "#838178",
  "#848178", "#858278", "#868378", "#878478", "#888578", "#898578", "#8A8678", "#8B8778",
  "#8C8878", "#8D8878", "#8E8978", "#8F8A78", "#908B78", "#918C78", "#928C78", "#938D78",
  "#948E78", "#958F78", "#968F77", "#979077", "#989177", "#999277", "#9A9377", "#9B9377",
  "#9C9477", "#9D9577", "#9E9676", "#9F9776", "#A09876", "#A19876", "#A29976", "#A39A75",
  "#A49B75", "#A59C75", "#A69C75", "#A79D75", "#A89E74", "#A99F74", "#AAA074", "#ABA174",
  "#ACA173", "#ADA273", "#AEA373", "#AFA473", "#B0A572", "#B1A672", "#B2A672", "#B4A771",
  "#B5A871", "#B6A971", "#B7AA70", "#B8AB70", "#B9AB70", "#BAAC6F", "#BBAD6F", "#BCAE6E",
  "#BDAF6E", "#BEB06E", "#BFB16D", "#C0B16D", "#C1B26C", "#C2B36C", "#C3B46C", "#C5B56B",
  "#C6B66B", "#C7B76A", "#C8B86A", "#C9B869", "#CAB969", "#CBBA68", "#CCBB68", "#CDBC67",
  "#CEBD67", "#D0BE66", "#D1BF66", "#D2C065", "#D3C065", "#D4C164", "#D5C263", "#D6C363",
  "#D7C462", "#D8C561", "#D9C661", "#DBC760", "#DCC860", "#DDC95F", "#DECA5E", "#DFCB5D",
  "#E0CB5D", "#E1CC5C", "#E3CD5B", "#E4CE5B", "#E5CF5A", "#E6D059", "#E7D158", "#E8D257",
  "#E9D356", "#EBD456", "#ECD555", "#EDD654", "#EED753", "#EFD852", "#F0D951", "#F1DA50",
  "#F3DB4F", "#F4DC4E", "#F5DD4D", "#F6DE4C", "#F7DF4B", "#F9E049", "#FAE048", "#FBE147",
  "#FCE246", "#FDE345", "#FFE443", "#FFE542", "#FFE642", "#FFE743", "#FFE844", "#FFE945",
];
