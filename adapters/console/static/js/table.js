// A result table: a dataframe ({columns, data, truncated}) shown a page at a time, with CSV download.

import {clear, download, fmt, h} from './dom.js';

export function toCsv(columns, data) {
  const cell = v => {
    const t = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  return [columns, ...data].map(row => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** The table with Previous/Next paging (`pageSize` rows) and a "Download CSV" button. */
export function resultTable(df, {pageSize = 10, name = 'result', caption = 'Result'} = {}) {
  const columns = df?.columns || [], data = df?.data || [];
  const body = h('tbody');
  const status = h('span', {class: 'muted', 'aria-live': 'polite'});
  const prev = h('button', {type: 'button', class: 'small', 'aria-label': 'Previous page'}, '‹ Prev');
  const next = h('button', {type: 'button', class: 'small', 'aria-label': 'Next page'}, 'Next ›');
  const numeric = columns.map((_, i) => data.length > 0 && data.every(r => r[i] === null || typeof r[i] === 'number'));
  let page = 0;
  const pages = Math.max(1, Math.ceil(data.length / pageSize));

  function render() {
    clear(body);
    const start = page * pageSize;
    for (const row of data.slice(start, start + pageSize)) {
      body.append(h('tr', {}, row.map((v, i) => h('td', {class: numeric[i] ? 'num' : ''}, fmt(v)))));
    }
    if (!data.length) body.append(h('tr', {}, h('td', {colspan: columns.length || 1, class: 'muted'}, 'No rows.')));
    const end = Math.min(start + pageSize, data.length);
    status.textContent = data.length ? `Rows ${start + 1}–${end} of ${data.length}${df.truncated ? ' (capped)' : ''}` : '';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  prev.addEventListener('click', () => { page = Math.max(0, page - 1); render(); });
  next.addEventListener('click', () => { page = Math.min(pages - 1, page + 1); render(); });
  render();

  const csv = h('button', {type: 'button', class: 'small', onclick: () => download(`${name}.csv`, toCsv(columns, data), 'text/csv')}, 'Download CSV');
  const table = h('table', {class: 'data'},
    h('caption', {class: 'sr-only'}, caption),
    h('thead', {}, h('tr', {}, columns.map((c, i) => h('th', {scope: 'col', class: numeric[i] ? 'num' : ''}, c)))),
    body);
  const pager = pages > 1 ? [prev, next] : [];
  return h('div', {class: 'result'},
    h('div', {class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': caption}, table),
    h('div', {class: 'table-foot'}, status, h('span', {class: 'spacer'}), pager, csv));
}
