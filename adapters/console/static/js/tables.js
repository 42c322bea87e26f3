// Generated tables (Tablepilot-style): create from a JSON schema (pasted or uploaded), generate rows
// with a progress bar, page through rows, regenerate selected cells; datasets upload and preview.

import {api, stream} from './api.js';
import {append, clear, field, fmt, h, toast} from './dom.js';
import {listAndDetail, missing} from './screen.js';

const EXAMPLE = JSON.stringify({
  name: 'people', description: 'Sample customers',
  columns: [{name: 'name', type: 'string'}, {name: 'email', type: 'string'}, {name: 'city', type: 'string'},
    {name: 'signup_date', type: 'date'}],
}, null, 2);
const PAGE = 20;

export const {mount, update} = listAndDetail(overview, tablePage);

async function overview(page) {
  const list = h('ul', {class: 'list'});
  const schema = h('textarea', {class: 'code', rows: 10, spellcheck: 'false'});
  schema.value = EXAMPLE;
  const file = h('input', {type: 'file', accept: '.json,application/json'});
  file.addEventListener('change', async () => { if (file.files[0]) schema.value = await file.files[0].text(); });
  const form = h('form', {class: 'stack'}, field('Table schema (JSON)', schema, 'Tablepilot JSON or TableTalk\'s own: a name and columns.'),
    field('Or upload a schema file', file), h('div', {}, h('button', {type: 'submit', class: 'primary'}, 'Create table')));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    let body;
    try { body = JSON.parse(schema.value); } catch (exc) { return toast(`The schema is not valid JSON: ${exc.message}`, 'error'); }
    try {
      await api('/tables', {method: 'POST', body});
      location.hash = `#tables/${encodeURIComponent(body.name)}`;
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  append(page, h('h1', {}, 'Tables'),
    h('div', {class: 'grid2'},
      h('section', {class: 'panel'}, h('h2', {}, 'Your tables'), list),
      h('section', {class: 'panel'}, h('h2', {}, 'New table'), form)),
    await datasets());
  const {tables} = await api('/tables');
  if (!tables.length) list.append(h('li', {class: 'muted'}, 'No tables yet.'));
  for (const t of tables) {
    list.append(h('li', {}, h('a', {href: `#tables/${encodeURIComponent(t.name)}`}, t.name), h('span', {class: 'muted'}, t.description)));
  }
}

async function datasets() {
  const list = h('ul', {class: 'list'});
  const preview = h('div', {'aria-live': 'polite'});
  const name = h('input', {type: 'text', required: true});
  const file = h('input', {type: 'file', accept: '.csv,text/csv'});
  const form = h('form', {class: 'row'}, field('Dataset name', name), field('CSV file', file),
    h('button', {type: 'submit'}, 'Upload dataset'));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    if (!name.value.trim() || !file.files[0]) return toast('Give the dataset a name and choose a CSV file.', 'error');
    const body = new FormData();
    body.append('name', name.value.trim());
    body.append('type', 'csv');
    body.append('files', file.files[0]);
    try {
      await api('/datasets', {method: 'POST', body});
      name.value = '';
      file.value = '';
      await load();
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  async function show(d) {
    const p = await api(`/datasets/${encodeURIComponent(d.id)}/preview`);
    let columns, rows;
    if (p.type === 'list') [columns, rows] = [['value'], (p.data || []).map(v => [v])];
    else if (Array.isArray(p.rows)) [columns, rows] = [Object.keys(p.rows[0] || {}), p.rows.map(r => Object.values(r))];
    else [columns, rows] = [p.columns || [], p.data || []];
    clear(preview).append(h('h3', {}, `Preview: ${d.name}`), rowsTable(columns, rows.slice(0, 20)));
  }
  async function load() {
    clear(list);
    const answer = await api('/datasets');
    const items = Array.isArray(answer) ? answer : answer.datasets || answer.items || [];
    if (!items.length) list.append(h('li', {class: 'muted'}, 'No datasets yet.'));
    for (const d of items) {
      const size = d.type === 'list' ? d.value_count ?? d.size : d.row_count ?? d.size;
      list.append(h('li', {}, h('strong', {}, d.name), h('span', {class: 'muted'}, `${d.type} · ${fmt(size ?? 0)} ${d.type === 'list' ? 'values' : 'rows'}`),
        h('span', {class: 'spacer'}), h('button', {type: 'button', class: 'small', onclick: () => show(d)}, 'Preview')));
    }
  }
  await load();
  return h('section', {class: 'panel'}, h('h2', {}, 'Datasets'), h('p', {class: 'hint'}, 'Columns with fill mode "pick" draw their values from a dataset.'),
    form, list, preview);
}

function rowsTable(columns, rows, select) {
  const head = h('tr', {}, select ? h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Select')) : null,
    columns.map(c => h('th', {scope: 'col'}, c)));
  const body = h('tbody', {}, rows.map((r, i) => h('tr', {},
    select ? h('td', {}, select(i)) : null, r.map(v => h('td', {}, fmt(v))))));
  return h('div', {class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Rows'},
    h('table', {class: 'data'}, h('thead', {}, head), body));
}

async function tablePage(page, name) {
  let table;
  try {
    table = await api(`/tables/${encodeURIComponent(name)}`);
  } catch (exc) {
    return missing(page, exc, '#tables', 'Back to tables');
  }
  const columns = table.columns.map(c => c.Name);
  let offset = 0;
  const selected = new Set();
  const rowsBox = h('div');
  const status = h('span', {class: 'muted', 'aria-live': 'polite'});
  const prev = h('button', {type: 'button', class: 'small', 'aria-label': 'Previous page'}, '‹ Prev');
  const next = h('button', {type: 'button', class: 'small', 'aria-label': 'Next page'}, 'Next ›');

  async function loadRows() {
    const {data, total} = await api(`/tables/${encodeURIComponent(name)}/rows?offset=${offset}&limit=${PAGE}`);
    const select = i => {
      const box = h('input', {type: 'checkbox', 'aria-label': `Select row ${offset + i + 1}`, checked: selected.has(data[i]._id)});
      box.addEventListener('change', () => {
        if (box.checked) selected.add(data[i]._id); else selected.delete(data[i]._id);
        box.closest('tr').classList.toggle('selected', box.checked);
        regenButton.disabled = !selected.size;
      });
      return box;
    };
    clear(rowsBox).append(data.length ? rowsTable(columns, data.map(r => columns.map(c => r[c])), select)
      : h('p', {class: 'muted'}, 'No rows yet: generate some above.'));
    status.textContent = total ? `Rows ${offset + 1}–${offset + data.length} of ${fmt(total)}` : '';
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE >= total;
  }
  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); loadRows(); });
  next.addEventListener('click', () => { offset += PAGE; loadRows(); });

  // --- generate ------------------------------------------------------------------------------
  const count = h('input', {type: 'number', min: 1, max: 100000, value: 20});
  const batch = h('input', {type: 'number', min: 1, max: 500, value: 10});
  const bar = h('progress', {class: 'progress', max: 1, value: 0, 'aria-label': 'Generation progress'});
  const barText = h('span', {class: 'muted', 'aria-live': 'polite'});
  const genButton = h('button', {type: 'submit', class: 'primary'}, 'Generate rows');
  const genForm = h('form', {class: 'stack'}, h('div', {class: 'row'}, field('Rows to generate', count), field('Batch size', batch), genButton),
    h('div', {class: 'row'}, bar, barText));
  genForm.addEventListener('submit', async e => {
    e.preventDefault();
    const want = Number(count.value) || 1;
    let got = 0;
    genButton.disabled = true;
    bar.max = want;
    bar.value = 0;
    barText.textContent = `0 of ${fmt(want)} rows`;
    try {
      for await (const {event, data} of stream(`/generate/tables/${encodeURIComponent(name)}`, {count: want, batch: Number(batch.value) || 10, stream: true})) {
        if (event === 'error') throw new Error(data.detail);
        if (data && Array.isArray(data.data)) {
          got += data.data.length;
          bar.value = got;
          barText.textContent = `${fmt(got)} of ${fmt(want)} rows`;
        }
      }
      barText.textContent = `Generated ${fmt(got)} rows.`;
      await loadRows();
    } catch (exc) {
      barText.textContent = '';
      toast(exc.detail || exc.message, 'error');
    }
    genButton.disabled = false;
  });

  // --- regenerate selected cells -------------------------------------------------------------
  const regenColumns = h('fieldset', {class: 'parents'}, h('legend', {}, 'Columns to rewrite'),
    columns.map(c => h('label', {class: 'check'}, h('input', {type: 'checkbox', value: c}), c)));
  const prompt = h('input', {type: 'text', placeholder: 'optional, e.g. "cities in Spain"'});
  const regenButton = h('button', {type: 'submit', disabled: true}, 'Regenerate selected');
  const regenForm = h('form', {class: 'stack'}, regenColumns, h('div', {class: 'row'}, field('Instruction', prompt), regenButton));
  regenForm.addEventListener('submit', async e => {
    e.preventDefault();
    const cols = [...regenColumns.querySelectorAll('input:checked')].map(i => i.value);
    if (!cols.length) return toast('Choose the columns to rewrite.', 'error');
    regenButton.disabled = true;
    try {
      await api(`/regenerate/tables/${encodeURIComponent(name)}`, {method: 'POST',
        body: {autofill: {columns: cols, rows: [...selected], prompt: prompt.value}}});
      toast(`Regenerated ${selected.size} row(s).`);
      await loadRows();
    } catch (exc) { toast(exc.detail, 'error'); }
    regenButton.disabled = !selected.size;
  });

  append(page, h('p', {}, h('a', {href: '#tables'}, '← All tables')),
    h('h1', {}, table.name), table.description ? h('p', {class: 'muted'}, table.description) : null,
    h('p', {class: 'hint'}, table.columns.map(c => `${c.Name} (${c.Type}${c.FillMode === 'pick' ? ', pick' : ''})`).join(' · ')),
    h('section', {class: 'panel'}, h('h2', {}, 'Generate rows'), genForm),
    h('section', {class: 'panel'}, h('h2', {}, 'Rows'), rowsBox,
      h('div', {class: 'table-foot'}, status, h('span', {class: 'spacer'}), prev, next)),
    h('section', {class: 'panel'}, h('h2', {}, 'Regenerate selected rows'), regenForm));
  await loadRows();
}
