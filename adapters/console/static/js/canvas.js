// Canvas boards: list and create boards, add data/chart/text/sql nodes, run a node with its live
// events, refresh the whole board in dependency order, export it as a static HTML report.

import {api, apiBlob, stream} from './api.js';
import {chartFigure} from './chart.js';
import {append, clear, download, field, h, toast, when} from './dom.js';
import {listAndDetail, missing} from './screen.js';
import {resultTable} from './table.js';

const TYPES = {data: 'Data (question → rows)', chart: 'Chart', text: 'Text summary of parents', sql: 'SQL you write'};

async function datasources() {
  const items = (await api('/datasources?size=200').catch(() => ({items: []}))).items;
  return {items, names: Object.fromEntries(items.map(d => [d.id, d.name]))};
}

export const {mount, update} = listAndDetail(
  async page => { const ds = await datasources(); await boards(page, ds.items, ds.names); },
  async (page, id) => board(page, id, (await datasources()).names));

async function boards(page, datasources, names) {
  const list = h('ul', {class: 'list'});
  const name = h('input', {type: 'text', required: true, placeholder: 'e.g. Sales overview'});
  const ds = h('select', {}, datasources.map(d => h('option', {value: d.id}, d.name)));
  const demo = datasources.find(d => d.name === 'Demo shop');
  if (demo) ds.value = demo.id;
  const form = h('form', {class: 'row'}, field('Board name', name), field('Datasource', ds),
    h('button', {type: 'submit', class: 'primary'}, 'Create board'));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    if (!name.value.trim()) return name.focus();
    try {
      const created = await api('/canvas', {method: 'POST', body: {name: name.value.trim(), datasource_id: ds.value}});
      location.hash = `#canvas/${encodeURIComponent(created.id)}`;
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  append(page, h('h1', {}, 'Canvas boards'),
    h('section', {class: 'panel'}, h('h2', {}, 'New board'), form),
    h('section', {class: 'panel'}, h('h2', {}, 'Boards'), list));
  const items = (await api('/canvas')).items;
  if (!items.length) list.append(h('li', {class: 'muted'}, 'No boards yet: create one above.'));
  for (const c of items) {
    list.append(h('li', {},
      h('a', {href: `#canvas/${encodeURIComponent(c.id)}`}, c.name),
      h('span', {class: 'muted'}, names[c.datasource_id] || c.datasource_id),
      h('span', {class: 'spacer'}), h('span', {class: 'muted'}, when(c.modified_at))));
  }
}

function nodeResult(node) {
  const data = node.data || {};
  const parts = [];
  const words = data.text || data.description;
  if (words) parts.push(h('p', {class: 'answer-text'}, words));
  if (data.chart) {
    const figure = chartFigure(data.chart, node.title || node.type);
    if (figure) parts.push(figure);
  }
  if (data.dataframe?.columns?.length && node.type !== 'chart') parts.push(resultTable(data.dataframe, {pageSize: 5, name: node.title || node.id}));
  if (data.sql) parts.push(h('details', {}, h('summary', {}, 'SQL'), h('pre', {class: 'sql-text'}, data.sql)));
  if (node.error) parts.push(h('p', {class: 'answer-text failed'}, node.error));
  return parts;
}

async function board(page, id, names) {
  let canvas;
  try {
    canvas = await api(`/canvas/${encodeURIComponent(id)}`);
  } catch (exc) {
    return missing(page, exc, '#canvas', 'Back to boards');
  }
  const grid = h('div', {class: 'nodes'});
  const cards = new Map();

  function card(node) {
    const status = h('span', {class: `badge ${node.status}`}, node.status);
    const log = h('ul', {class: 'log', 'aria-label': 'Run events', 'aria-live': 'polite'});
    const result = h('div', {class: 'answer-body'}, nodeResult(node));
    const run = h('button', {type: 'button', class: 'small primary'}, 'Run');
    const remove = h('button', {type: 'button', class: 'small danger', 'aria-label': `Delete node ${node.title || node.question || node.id}`}, 'Delete');
    const title = node.title || node.question || (node.sql ? node.sql.slice(0, 60) : TYPES[node.type]);
    const el = h('article', {class: 'panel node', 'data-node': node.id, 'aria-label': `${node.type} node: ${title}`},
      h('div', {class: 'node-head'}, h('h3', {}, title), h('span', {class: 'badge'}, node.type), status, run, remove),
      node.parent_ids.length ? h('p', {class: 'hint'}, 'After: ', node.parent_ids.map(p => cards.get(p)?.title || p).join(', ')) : null,
      log, result);
    run.addEventListener('click', async () => {
      run.disabled = true;
      clear(log);
      status.className = 'badge running';
      status.textContent = 'running';
      try {
        for await (const {data} of stream(`/canvas/${encodeURIComponent(id)}/nodes/${encodeURIComponent(node.id)}/run`)) {
          if (data.type === 'text') log.append(h('li', {}, data.text));
          else if (data.type === 'tool_use') log.append(h('li', {}, `SQL: ${data.args?.sql || ''}`));
          else if (data.type === 'tool_result') log.append(h('li', {}, `${data.result?.count ?? '?'} rows`));
          else if (data.type === 'error') log.append(h('li', {class: 'failed'}, data.error));
          else if (data.type === 'complete') log.append(h('li', {}, 'Complete'));
        }
      } catch (exc) {
        log.append(h('li', {class: 'failed'}, exc.detail || exc.message));
      }
      const fresh = await api(`/canvas/${encodeURIComponent(id)}/nodes/${encodeURIComponent(node.id)}`);
      status.className = `badge ${fresh.status}`;
      status.textContent = fresh.status;
      clear(result).append(...nodeResult(fresh));
      run.disabled = false;
    });
    remove.addEventListener('click', async () => {
      await api(`/canvas/${encodeURIComponent(id)}/nodes/${encodeURIComponent(node.id)}`, {method: 'DELETE'});
      await reload();
    });
    cards.set(node.id, {el, title});
    return el;
  }

  async function reload(nodes) {
    nodes = nodes || (await api(`/canvas/${encodeURIComponent(id)}`)).nodes;
    clear(grid);
    cards.clear();
    if (!nodes.length) grid.append(h('p', {class: 'muted'}, 'No nodes yet: add one above.'));
    for (const n of nodes) grid.append(card(n));
    drawParents(nodes);
  }

  // --- add a node ------------------------------------------------------------------------------
  const type = h('select', {}, Object.entries(TYPES).map(([v, label]) => h('option', {value: v}, label)));
  const title = h('input', {type: 'text', placeholder: 'optional'});
  const question = h('input', {type: 'text', placeholder: 'e.g. orders per month'});
  const sql = h('textarea', {class: 'code', rows: 3, placeholder: 'SELECT …'});
  const sqlField = field('SQL', sql);
  const questionField = field('Question', question);
  const parents = h('fieldset', {class: 'parents'}, h('legend', {}, 'Parents'));
  function drawParents(nodes) {
    clear(parents).append(h('legend', {}, 'Parents'));
    if (!nodes.length) parents.append(h('span', {class: 'hint'}, 'none yet'));
    for (const n of nodes) {
      parents.append(h('label', {class: 'check'}, h('input', {type: 'checkbox', value: n.id}), n.title || n.question || n.id));
    }
  }
  const showFields = () => { sqlField.hidden = type.value !== 'sql'; questionField.hidden = type.value === 'sql'; };
  type.addEventListener('change', showFields);
  showFields();
  const form = h('form', {class: 'stack'},
    h('div', {class: 'row'}, field('Node type', type), field('Title', title), questionField), sqlField, parents,
    h('div', {}, h('button', {type: 'submit', class: 'primary'}, 'Add node')));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const body = {type: type.value, title: title.value.trim(), question: question.value.trim(),
      parent_ids: [...parents.querySelectorAll('input:checked')].map(i => i.value)};
    if (type.value === 'sql') body.sql = sql.value.trim();
    try {
      await api(`/canvas/${encodeURIComponent(id)}/nodes`, {method: 'POST', body});
      title.value = question.value = sql.value = '';
      await reload();
    } catch (exc) { toast(exc.detail, 'error'); }
  });

  const refresh = h('button', {type: 'button'}, 'Refresh board');
  refresh.addEventListener('click', async () => {
    const nodes = (await api(`/canvas/${encodeURIComponent(id)}`)).nodes;
    const roots = nodes.filter(n => !n.parent_ids.length).map(n => n.id);
    if (!roots.length) return toast('Nothing to refresh yet.');
    refresh.disabled = true;
    refresh.textContent = 'Refreshing…';
    try {
      await api(`/canvas/${encodeURIComponent(id)}/nodes/batch-refresh`, {method: 'POST', body: {node_ids: roots}});
      await reload();
      toast('Board refreshed.');
    } catch (exc) { toast(exc.detail, 'error'); }
    refresh.disabled = false;
    refresh.textContent = 'Refresh board';
  });
  const exportButton = h('button', {type: 'button'}, 'Export HTML');
  exportButton.addEventListener('click', async () => {
    try {
      download(`${canvas.name}.html`, await apiBlob(`/canvas/${encodeURIComponent(id)}/export.html`));
    } catch (exc) { toast(exc.detail, 'error'); }
  });

  append(page, 
    h('p', {}, h('a', {href: '#canvas'}, '← All boards')),
    h('div', {class: 'row board-head'}, h('h1', {}, canvas.name), h('span', {class: 'muted'}, names[canvas.datasource_id] || ''),
      h('span', {class: 'spacer'}), refresh, exportButton),
    h('section', {class: 'panel'}, h('h2', {}, 'Add a node'), form),
    grid);
  await reload(canvas.nodes);
}
