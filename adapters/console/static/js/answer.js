// One turn of a conversation as the page shows it: the question, the live progress of the answer
// (linking → SQL → rows), then the answer text, interpretation, SQL, chart and result table.

import {chartFigure} from './chart.js';
import {clear, fmt, h, toast} from './dom.js';
import {resultTable} from './table.js';

export function questionBubble(text) {
  return h('div', {class: 'turn human'}, h('p', {class: 'bubble'}, text));
}

function sqlBlock(sql) {
  const copy = h('button', {type: 'button', class: 'small', 'aria-label': 'Copy SQL'}, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(sql);
      copy.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast('Press Ctrl+C to copy the selected SQL.');
    }
    setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
  });
  const code = h('code', {}, sql);
  return h('div', {class: 'sql'}, h('div', {class: 'sql-head'}, h('span', {}, 'SQL'), copy), h('pre', {}, code));
}

/** The finished answer: `content` as the chat API returns it ({text, sql, dataframe, chart, interpretation, error}). */
export function answerBody(content, {name = 'answer'} = {}) {
  const parts = [];
  const failed = Boolean(content.error);
  if (content.text) parts.push(h('p', {class: failed ? 'answer-text failed' : 'answer-text'}, content.text));
  if (content.interpretation) {
    const it = content.interpretation;
    const textOf = typeof it === 'string' ? it : it.text || it.summary || JSON.stringify(it);
    parts.push(h('p', {class: 'interpretation'}, h('span', {class: 'label'}, 'Read as: '), textOf));
  }
  if (content.suggestions?.length) {
    parts.push(h('ul', {class: 'suggestions'}, content.suggestions.map(q => h('li', {}, q))));
  }
  if (content.sql) parts.push(sqlBlock(content.sql));
  if (content.chart) {
    const figure = chartFigure(content.chart, name);
    if (figure) parts.push(figure);
  }
  const df = content.dataframe;
  if (df && df.columns?.length) parts.push(resultTable(df, {name, caption: 'Result rows'}));
  return parts;
}

/** A placeholder card that shows progress events as they stream, then the answer. */
export function pendingAnswer() {
  const steps = h('ol', {class: 'steps', 'aria-label': 'Progress'});
  const body = h('div', {class: 'answer-body'});
  const card = h('div', {class: 'turn assistant pending', 'aria-busy': 'true'},
    h('div', {class: 'card'}, steps, body));
  const step = (label, detail) => {
    for (const li of steps.querySelectorAll('li.active')) li.classList.replace('active', 'done');
    steps.append(h('li', {class: 'active'}, h('span', {class: 'step-label'}, label), detail ? h('span', {class: 'step-detail'}, detail) : null));
  };
  step('Reading the question');
  return {
    card,
    event(name, data) {
      if (name === 'linking') step('Linked tables', (data.tables || []).join(', ') || '—');
      else if (name === 'sql') step('Wrote SQL', data.sql ? data.sql.replace(/\s+/g, ' ').slice(0, 90) : '');
      else if (name === 'rows') step('Ran the query', `${fmt(data.count)} row${data.count === 1 ? '' : 's'}${data.truncated ? ' (capped)' : ''}`);
      else if (name === 'answer') clear(body).append(h('p', {class: 'answer-text'}, data.text || ''));
    },
    finish(content, options) {
      for (const li of steps.querySelectorAll('li.active')) li.classList.replace('active', 'done');
      card.classList.remove('pending');
      card.removeAttribute('aria-busy');
      steps.hidden = true;
      clear(body).append(...answerBody(content, options));
    },
    fail(detail) {
      card.classList.remove('pending');
      card.removeAttribute('aria-busy');
      steps.hidden = true;
      clear(body).append(h('p', {class: 'answer-text failed', role: 'alert'}, detail));
    },
  };
}

export function answerCard(content, options) {
  return h('div', {class: 'turn assistant'}, h('div', {class: 'card'}, h('div', {class: 'answer-body'}, answerBody(content, options))));
}
