// Datasources (admin): add one with a connection test, watch its metadata sync, edit table and field
// descriptions and visibility, build value indexes, manage training question/SQL pairs.

import {api} from './api.js';
import {append, clear, field, fmt, h, toast, when} from './dom.js';
import {listAndDetail, missing} from './screen.js';

const ENGINES = {
  sqlite: [['database', 'Database file path']],
  postgresql: [['host', 'Host'], ['port', 'Port'], ['user', 'User'], ['password', 'Password'], ['database', 'Database']],
  mysql: [['host', 'Host'], ['port', 'Port'], ['user', 'User'], ['password', 'Password'], ['database', 'Database']],
  csv: [['path', 'File, folder or glob']],
  excel: [['path', 'File, folder or glob']],
  parquet: [['path', 'File, folder or glob']],
};
const PORTS = {postgresql: 5432, mysql: 3306};
const enc = encodeURIComponent;

export const {mount, update} = listAndDetail(overview, detail);

function status(ds) {
  return h('span', {class: `badge ${ds.meta_status}`}, ds.meta_status || 'unknown');
}

async function overview(page) {
  const list = h('ul', {class: 'list'});
  append(page, h('h1', {}, 'Datasources'), h('div', {class: 'grid2'},
    h('section', {class: 'panel'}, h('h2', {}, 'Connected'), list),
    h('section', {class: 'panel'}, h('h2', {}, 'Add a datasource'), addForm())));
  const {items} = await api('/datasources?size=200');
  if (!items.length) list.append(h('li', {class: 'muted'}, 'None yet.'));
  for (const d of items) {
    list.append(h('li', {}, h('a', {href: `#datasources/${enc(d.id)}`}, d.name), h('span', {class: 'badge'}, d.engine), status(d),
      h('span', {class: 'spacer'}), h('span', {class: 'muted'}, `${fmt(d.table_count)} tables · ${fmt(d.field_count)} fields`)));
  }
}

function addForm() {
  const name = h('input', {type: 'text', required: true});
  const engine = h('select', {}, Object.keys(ENGINES).map(e => h('option', {value: e}, e)));
  const settings = h('div', {class: 'row'});
  const result = h('p', {'aria-live': 'polite'});
  const inputs = {};
  const drawSettings = () => {
    clear(settings);
    for (const [key, label] of ENGINES[engine.value]) {
      const type = key === 'password' ? 'password' : key === 'port' ? 'number' : 'text';
      inputs[key] = h('input', {type, value: key === 'port' ? PORTS[engine.value] : '', autocomplete: key === 'password' ? 'new-password' : 'off'});
      settings.append(field(label, inputs[key]));
    }
  };
  engine.addEventListener('change', drawSettings);
  drawSettings();
  const config = () => Object.fromEntries(ENGINES[engine.value].map(([key]) => [key, key === 'port' ? Number(inputs[key].value) : inputs[key].value])
    .filter(([, v]) => v !== '' && v !== 0));
  const test = h('button', {type: 'button'}, 'Test connection');
  test.addEventListener('click', async () => {
    result.className = 'muted';
    result.textContent = 'Connecting…';
    try {
      const r = await api('/datasources/test-connection', {method: 'POST', body: {engine: engine.value, access_config: config()}});
      result.className = r.success ? 'ok' : 'error';
      result.textContent = r.success ? `Connected: ${r.message}` : `Could not connect: ${r.message}`;
    } catch (exc) {
      result.className = 'error';
      result.textContent = exc.detail;
    }
  });
  const form = h('form', {class: 'stack'}, h('div', {class: 'row'}, field('Name', name), field('Engine', engine)), settings, result,
    h('div', {class: 'row'}, test, h('button', {type: 'submit', class: 'primary'}, 'Add datasource')));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    if (!name.value.trim()) return name.focus();
    try {
      const ds = await api('/datasources', {method: 'POST', body: {name: name.value.trim(), engine: engine.value, access_config: config()}});
      location.hash = `#datasources/${enc(ds.id)}`;
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  return form;
}

async function detail(page, id) {
  let ds;
  try { ds = await api(`/datasources/${enc(id)}`); } catch (exc) {
    return missing(page, exc, '#datasources', 'Back to datasources');
  }
  const head = h('div', {class: 'row'});
  const sync = h('button', {type: 'button'}, 'Sync metadata');
  const drawHead = d => clear(head).append(h('h1', {}, d.name), h('span', {class: 'badge'}, d.engine), status(d),
    h('span', {class: 'muted'}, `${fmt(d.table_count)} tables · ${fmt(d.field_count)} fields · updated ${when(d.modified_at)}`),
    h('span', {class: 'spacer'}), sync);
  drawHead(ds);
  const metaBox = h('div');
  let timer = null;
  async function poll() {
    const d = await api(`/datasources/${enc(id)}`);
    drawHead(d);
    if (d.meta_status === 'running') timer = setTimeout(poll, 1500);
    else { timer = null; await drawMeta(); if (d.meta_error) toast(d.meta_error, 'error'); }
  }
  sync.addEventListener('click', async () => {
    await api(`/datasources/${enc(id)}/meta/sync`, {method: 'POST'});
    toast('Sync started.');
    if (!timer) poll();
  });

  async function drawMeta() {
    const meta = await api(`/datasources/${enc(id)}/meta`);
    clear(metaBox);
    for (const schema of Object.values(meta.schemas || {})) {
      for (const table of Object.values(schema.tables || {})) metaBox.append(tableEditor(id, table));
    }
    if (!metaBox.childNodes.length) metaBox.append(h('p', {class: 'muted'}, 'No tables synced yet.'));
  }
  append(page, h('p', {}, h('a', {href: '#datasources'}, '← All datasources')), head,
    ds.source_file ? h('p', {class: 'hint'}, `Defined in ${ds.source_file}`) : null,
    h('section', {class: 'panel'}, h('h2', {}, 'Tables and fields'), metaBox),
    h('div', {class: 'grid2'}, await indexes(id), await training(id)));
  if (ds.meta_status === 'running') poll(); else await drawMeta();
}

function saveOnChange(input, path, key, label) {
  input.addEventListener('change', async () => {
    const value = input.type === 'checkbox' ? input.checked : input.value;
    try {
      await api(path, {method: 'PATCH', body: {[key]: value}});
      toast(`Saved ${label}.`);
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  return input;
}

function tableEditor(id, table) {
  const base = `/datasources/${enc(id)}/meta/tables/${enc(table.name)}`;
  const desc = saveOnChange(h('input', {type: 'text', value: table.description || '', 'aria-label': `Description of table ${table.name}`}),
    base, 'description', `${table.name} description`);
  const visible = saveOnChange(h('input', {type: 'checkbox', checked: table.visibility !== false, 'aria-label': `Table ${table.name} visible`}),
    base, 'visibility', `${table.name} visibility`);
  const rows = Object.values(table.fields || {}).map(f => {
    const path = `${base}/fields/${enc(f.name)}`;
    return h('tr', {}, h('td', {}, h('code', {}, f.name)), h('td', {class: 'muted'}, f.data_type),
      h('td', {}, saveOnChange(h('input', {type: 'text', value: f.description || '', 'aria-label': `Description of ${table.name}.${f.name}`}), path, 'description', `${f.name} description`)),
      h('td', {}, saveOnChange(h('input', {type: 'checkbox', checked: f.visibility !== false, 'aria-label': `${table.name}.${f.name} visible`}), path, 'visibility', `${f.name} visibility`)));
  });
  return h('details', {class: 'meta-table'},
    h('summary', {}, h('strong', {}, table.name), ' ', h('span', {class: 'muted'}, table.description || '')),
    h('div', {class: 'row'}, field('Table description', desc), h('label', {class: 'check'}, visible, 'Visible')),
    h('div', {class: 'table-scroll fields'}, h('table', {class: 'data'},
      h('thead', {}, h('tr', {}, ['Field', 'Type', 'Description', 'Visible'].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, rows))));
}

async function indexes(id) {
  const list = h('ul', {class: 'list'});
  const table = h('input', {type: 'text', placeholder: 'orders'});
  const column = h('input', {type: 'text', placeholder: 'status'});
  const form = h('form', {class: 'row'}, field('Table', table), field('Field', column), h('button', {type: 'submit'}, 'Build index'));
  async function load() {
    clear(list);
    const {items} = await api(`/datasources/${enc(id)}/indexes`);
    if (!items.length) list.append(h('li', {class: 'muted'}, 'No value indexes.'));
    for (const ix of items) {
      const remove = h('button', {type: 'button', class: 'small danger', 'aria-label': `Delete index ${ix.table}.${ix.field}`}, 'Delete');
      remove.addEventListener('click', async () => { await api(`/datasources/${enc(id)}/indexes/${enc(ix.id)}`, {method: 'DELETE'}); load(); });
      list.append(h('li', {}, h('code', {}, `${ix.table}.${ix.field}`), h('span', {class: 'badge'}, ix.kind), h('span', {class: `badge ${ix.status}`}, ix.status),
        h('span', {class: 'muted'}, `${fmt(ix.value_count ?? 0)} values${ix.auto ? ' · auto' : ''}`), h('span', {class: 'spacer'}), remove));
    }
  }
  form.addEventListener('submit', async e => {
    e.preventDefault();
    try {
      await api(`/datasources/${enc(id)}/indexes`, {method: 'POST', body: {table: table.value.trim(), field: column.value.trim()}});
      table.value = column.value = '';
      await load();
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  await load();
  return h('section', {class: 'panel'}, h('h2', {}, 'Value indexes'), form, list);
}

async function training(id) {
  const list = h('ul', {class: 'list'});
  const question = h('input', {type: 'text', placeholder: 'GMV this month'});
  const sql = h('textarea', {class: 'code', rows: 3, placeholder: 'SELECT …'});
  const form = h('form', {class: 'stack'}, field('Training question', question), field('Its SQL', sql), h('div', {}, h('button', {type: 'submit'}, 'Add pair')));
  async function load() {
    clear(list);
    const {items} = await api(`/training?datasource_id=${enc(id)}`);
    if (!items.length) list.append(h('li', {class: 'muted'}, 'No training pairs.'));
    for (const p of items) {
      const remove = h('button', {type: 'button', class: 'small danger', 'aria-label': `Delete pair ${p.question}`}, 'Delete');
      remove.addEventListener('click', async () => { await api(`/training/${enc(p.id)}`, {method: 'DELETE'}); load(); });
      list.append(h('li', {}, h('div', {class: 'stack grow'}, h('strong', {}, p.question), h('code', {}, p.sql)), remove));
    }
  }
  form.addEventListener('submit', async e => {
    e.preventDefault();
    try {
      await api('/training', {method: 'POST', body: {datasource_id: id, question: question.value.trim(), sql: sql.value.trim()}});
      question.value = sql.value = '';
      await load();
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  await load();
  return h('section', {class: 'panel'}, h('h2', {}, 'Training pairs'), form, list);
}
