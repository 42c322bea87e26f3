// Draws the Vega-Lite specs TableTalk answers with (line, bar, arc) as plain SVG, and exports them as PNG.
// Only the subset core/nlq/charts.py produces is read: mark type, x/y or theta/color encodings, data.values.

import {download, fmt, h} from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const M = {top: 36, right: 20, bottom: 64, left: 64};
let W = 640, H = 320; // set per drawing: narrower on a phone so the text stays readable
const COLORS = ['#2f6f8f', '#e07a2f', '#3d9a6b', '#c44e52', '#8067a8', '#b08d2a', '#4c8fc9', '#7a7a7a'];
const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const text = (x, y, content, attrs = {}) =>
  s('text', {x, y, 'font-family': FONT, 'font-size': 11, fill: '#4a5560', ...attrs}, content);

function markOf(spec) {
  return typeof spec.mark === 'string' ? spec.mark : spec.mark?.type;
}

function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(v => v >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 0.5; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

const short = v => { const t = fmt(v); return t.length > 14 ? t.slice(0, 13) + '…' : t; };

function axes(svg, ticks, yScale, title) {
  const top = ticks[ticks.length - 1];
  for (const t of ticks) {
    const y = yScale(t);
    svg.append(s('line', {x1: M.left, x2: W - M.right, y1: y, y2: y, stroke: '#e3e7eb'}));
    svg.append(text(M.left - 8, y + 4, fmt(t), {'text-anchor': 'end'}));
  }
  if (title) svg.append(text(14, (M.top + H - M.bottom) / 2, title, {transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})`, 'text-anchor': 'middle', 'font-size': 12}));
  return top;
}

function xLabels(svg, labels, xAt, title) {
  const every = Math.max(1, Math.ceil(labels.length / (W < 500 ? 7 : 12)));
  const tilt = labels.length > 6;
  labels.forEach((label, i) => {
    if (i % every) return;
    const x = xAt(i), y = H - M.bottom + 16;
    svg.append(text(x, y, short(label), tilt
      ? {'text-anchor': 'end', transform: `rotate(-35 ${x} ${y})`}
      : {'text-anchor': 'middle'}));
  });
  if (title) svg.append(text((M.left + W - M.right) / 2, H - 6, title, {'text-anchor': 'middle', 'font-size': 12}));
}

function cartesian(svg, spec, rows, kind) {
  const x = spec.encoding.x, y = spec.encoding.y;
  let points = rows.map(r => ({label: r[x.field], value: Number(r[y.field]) || 0}));
  if (kind === 'bar' && x.sort === '-y') points.sort((a, b) => b.value - a.value);
  if (kind === 'line') points.sort((a, b) => String(a.label).localeCompare(String(b.label), undefined, {numeric: true}));
  const ticks = niceTicks(Math.max(...points.map(p => p.value), 0));
  const top = ticks[ticks.length - 1] || 1;
  const plotH = H - M.top - M.bottom, plotW = W - M.left - M.right;
  const yScale = v => M.top + plotH - (v / top) * plotH;
  axes(svg, ticks, yScale, y.title || y.field);
  const band = plotW / Math.max(points.length, 1);
  const xAt = i => M.left + band * i + band / 2;
  svg.append(s('line', {x1: M.left, x2: W - M.right, y1: yScale(0), y2: yScale(0), stroke: '#9aa5b1'}));
  if (kind === 'bar') {
    points.forEach((p, i) => {
      const bw = Math.max(2, band * 0.7);
      svg.append(s('rect', {x: xAt(i) - bw / 2, y: yScale(p.value), width: bw, height: Math.max(0, yScale(0) - yScale(p.value)),
        fill: COLORS[0], rx: 2}, s('title', {}, `${fmt(p.label)}: ${fmt(p.value)}`)));
    });
  } else {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${xAt(i).toFixed(1)},${yScale(p.value).toFixed(1)}`).join(' ');
    svg.append(s('path', {d, fill: 'none', stroke: COLORS[0], 'stroke-width': 2.5, 'stroke-linejoin': 'round'}));
    points.forEach((p, i) => svg.append(s('circle', {cx: xAt(i), cy: yScale(p.value), r: 3.5, fill: '#fff', stroke: COLORS[0], 'stroke-width': 2},
      s('title', {}, `${fmt(p.label)}: ${fmt(p.value)}`))));
  }
  xLabels(svg, points.map(p => p.label), xAt, x.title || x.field);
}

function pie(svg, spec, rows) {
  const theta = spec.encoding.theta, color = spec.encoding.color;
  const parts = rows.map(r => ({label: r[color.field], value: Math.max(0, Number(r[theta.field]) || 0)}));
  const total = parts.reduce((a, p) => a + p.value, 0) || 1;
  const cx = W * 0.3, cy = (H + M.top) / 2, r = Math.min(120, (H - M.top - 16) / 2, W * 0.25);
  let angle = -Math.PI / 2;
  parts.forEach((p, i) => {
    const sweep = (p.value / total) * Math.PI * 2, end = angle + sweep;
    const large = sweep > Math.PI ? 1 : 0;
    const [x1, y1, x2, y2] = [cx + r * Math.cos(angle), cy + r * Math.sin(angle), cx + r * Math.cos(end), cy + r * Math.sin(end)];
    const d = sweep >= Math.PI * 2 - 1e-9 ? `M${cx - r},${cy} a${r},${r} 0 1,0 ${2 * r},0 a${r},${r} 0 1,0 ${-2 * r},0`
      : `M${cx},${cy} L${x1},${y1} A${r},${r} 0 ${large},1 ${x2},${y2} Z`;
    svg.append(s('path', {d, fill: COLORS[i % COLORS.length], stroke: '#fff', 'stroke-width': 1.5},
      s('title', {}, `${fmt(p.label)}: ${fmt(p.value)} (${(p.value / total * 100).toFixed(1)}%)`)));
    const ly = M.top + 14 + i * 22;
    svg.append(s('rect', {x: W * 0.58, y: ly - 10, width: 12, height: 12, fill: COLORS[i % COLORS.length], rx: 2}));
    svg.append(text(W * 0.58 + 20, ly, `${short(p.label)} — ${(p.value / total * 100).toFixed(1)}%`, {'font-size': 12}));
    angle = end;
  });
}

/** An <svg> for a Vega-Lite spec, or null when it is not a shape this drawer knows. */
export function drawChart(spec) {
  const rows = spec?.data?.values;
  const kind = markOf(spec || {});
  if (!Array.isArray(rows) || !rows.length || !['line', 'bar', 'arc'].includes(kind)) return null;
  [W, H] = window.matchMedia('(max-width: 600px)').matches ? [400, 260] : [640, 320];
  const svg = s('svg', {xmlns: NS, viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'chart-svg',
    'aria-label': `${kind === 'arc' ? 'pie' : kind} chart: ${spec.title || ''}`});
  svg.append(s('rect', {x: 0, y: 0, width: W, height: H, fill: '#ffffff'}));
  if (spec.title) svg.append(text(M.left, 20, spec.title, {'font-size': 14, 'font-weight': 600, fill: '#1d2730'}));
  if (kind === 'arc') pie(svg, spec, rows);
  else cartesian(svg, spec, rows, kind);
  return svg;
}

/** Rasterise a drawn chart into a PNG blob (2x for sharp text). */
export function chartPng(svg, scale = 2) {
  const [, , w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
  const source = new XMLSerializer().serializeToString(svg);
  const url = URL.createObjectURL(new Blob([source], {type: 'image/svg+xml'}));
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = w * scale;
      canvas.height = h * scale;
      const ctx = canvas.getContext('2d');
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0, w, h);
      URL.revokeObjectURL(url);
      canvas.toBlob(blob => (blob ? resolve(blob) : reject(new Error('PNG export failed'))), 'image/png');
    };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('PNG export failed')); };
    img.src = url;
  });
}

/** A figure with the chart and its "Download PNG" button. */
export function chartFigure(spec, name = 'chart') {
  const svg = drawChart(spec);
  if (!svg) return null;
  const button = h('button', {type: 'button', class: 'small', onclick: async () => download(`${name}.png`, await chartPng(svg))}, 'Download PNG');
  return h('figure', {class: 'chart'}, h('div', {class: 'chart-box'}, svg), h('figcaption', {}, button));
}
