// Ask: pick a datasource or a bot, ask in a chat that streams its progress, follow up, reopen past chats.

import {api, stream} from './api.js';
import {answerCard, pendingAnswer, questionBubble} from './answer.js';
import {clear, field, h, nextId, toast, when} from './dom.js';

export async function mount(view, args, {me}) {
  const admin = me.scope === 'priv_admin';
  const state = {sources: [], roles: [], chat: null, busy: false, names: {}};

  const source = h('select', {id: nextId('source')});
  const role = h('select', {id: nextId('role')}, h('option', {value: ''}, 'No role (everything)'));
  const variables = h('div', {class: 'variables'});
  const roleBox = admin ? h('details', {class: 'role-box'}, h('summary', {}, 'Answer as a role'),
    h('div', {class: 'row'}, field('Role', role), variables)) : null;
  const chatList = h('ul', {class: 'chat-list'});
  const transcript = h('div', {class: 'transcript', 'aria-live': 'polite', 'aria-label': 'Conversation'});
  const question = h('textarea', {id: 'question', rows: 2, placeholder: 'e.g. How many orders are there?', autocomplete: 'off'});
  const askButton = h('button', {type: 'submit', class: 'primary'}, 'Ask');
  const composer = h('form', {class: 'composer'},
    h('label', {for: 'question', class: 'sr-only'}, 'Question'),
    h('div', {class: 'composer-row'}, question, askButton),
    h('small', {class: 'hint'}, 'Enter asks · Shift+Enter adds a line'));
  const heading = h('h1', {class: 'chat-title'}, 'New chat');
  question.disabled = askButton.disabled = true; // until sources and chats are loaded

  view.append(h('div', {class: 'ask'},
    h('aside', {class: 'chats', 'aria-label': 'Chats'},
      h('div', {class: 'chats-head'}, h('h2', {}, 'Chats'),
        h('button', {type: 'button', class: 'small', onclick: () => newChat(true)}, 'New chat')),
      chatList),
    h('section', {class: 'conversation'},
      h('div', {class: 'ask-bar'}, heading, h('div', {class: 'row'}, field('Datasource or bot', source), roleBox)),
      transcript, composer)));

  // --- sources, roles, chats -----------------------------------------------------------------
  const [datasources, bots] = await Promise.all([
    me.scope === 'priv_visitor' ? {items: []} : api('/datasources?size=200'),
    api('/bots').catch(() => ({items: []})),
  ]);
  const dsGroup = h('optgroup', {label: 'Datasources'});
  for (const d of datasources.items) {
    dsGroup.append(h('option', {value: `ds:${d.id}`}, d.name));
    state.names[`ds:${d.id}`] = d.name;
  }
  const botGroup = h('optgroup', {label: 'Bots'});
  for (const b of bots.items) {
    botGroup.append(h('option', {value: `bot:${b.id}`}, b.name));
    state.names[`bot:${b.id}`] = b.name;
  }
  if (datasources.items.length) source.append(dsGroup);
  if (bots.items.length) source.append(botGroup);
  const demo = datasources.items.find(d => d.name === 'Demo shop');
  if (demo) source.value = `ds:${demo.id}`;
  if (!source.options.length) {
    source.append(h('option', {value: ''}, me.scope === 'priv_visitor' ? 'No bots for this key' : 'No datasources yet'));
    source.disabled = true;
  }
  source.addEventListener('change', () => { if (state.chat) newChat(); });

  if (admin) {
    state.roles = (await api('/roles?size=200').catch(() => ({items: []}))).items || [];
    for (const r of state.roles) role.append(h('option', {value: r.id}, r.name));
    role.addEventListener('change', () => { drawVariables(); if (state.chat) newChat(); });
  }

  function drawVariables(values = {}) {
    clear(variables);
    const r = state.roles.find(x => x.id === role.value);
    for (const v of r?.variables || []) {
      const input = h('input', {type: 'text', 'data-var': v.name, value: values[v.name] ?? '', required: v.required || undefined});
      variables.append(field(v.name + (v.required ? ' *' : ''), input));
    }
  }

  function roleChoice() {
    if (!admin || !role.value) return {};
    const vars = {};
    for (const input of variables.querySelectorAll('input[data-var]')) if (input.value !== '') vars[input.dataset.var] = input.value;
    return {role_id: role.value, role_variables: vars};
  }

  async function loadChats() {
    const list = await api('/chats?size=50');
    clear(chatList);
    if (!list.items.length) chatList.append(h('li', {class: 'muted empty'}, 'No chats yet.'));
    for (const c of list.items) {
      const where = c.datasource_id ? state.names[`ds:${c.datasource_id}`] : state.names[`bot:${c.bot_id}`] || c.bot_id;
      const link = h('a', {href: `#ask/${encodeURIComponent(c.id)}`, 'aria-current': state.chat?.id === c.id ? 'page' : null},
        h('span', {class: 'chat-name'}, c.name || '(no question yet)'),
        h('span', {class: 'chat-meta'}, [where, when(c.modified_at)].filter(Boolean).join(' · ')));
      chatList.append(h('li', {}, link));
    }
  }

  // --- chats ---------------------------------------------------------------------------------
  // Focus moves to the question only when asked to, or when nothing else has it: someone typing a
  // role variable while the chats load must not have their keystrokes land in the question box.
  function newChat(focus = document.activeElement === document.body || !document.activeElement) {
    state.chat = null;
    heading.textContent = 'New chat';
    clear(transcript).append(welcome());
    if (location.hash !== '#ask') history.replaceState(null, '', '#ask');
    for (const a of chatList.querySelectorAll('a')) a.removeAttribute('aria-current');
    if (focus) question.focus();
  }

  function welcome() {
    const samples = (demo && source.value === `ds:${demo.id}` ? demo.sample_questions : null) || [];
    const tips = ['How many orders are there?', 'orders per month', 'Top 5 products by revenue'];
    const ideas = (samples.length ? samples : tips).slice(0, 4);
    return h('div', {class: 'welcome'},
      h('p', {}, 'Ask a question about your data in plain words.'),
      h('div', {class: 'chips'}, ideas.map(q => h('button', {type: 'button', class: 'chip', onclick: () => { question.value = q; ask(); }}, q))));
  }

  async function openChat(id) {
    let chat;
    try {
      chat = await api(`/chats/${encodeURIComponent(id)}`);
    } catch (exc) {
      toast(exc.detail || 'That chat could not be opened.', 'error');
      return newChat();
    }
    state.chat = chat;
    const key = chat.datasource_id ? `ds:${chat.datasource_id}` : `bot:${chat.bot_id}`;
    if ([...source.options].some(o => o.value === key)) source.value = key;
    if (admin) {
      role.value = chat.role_id || '';
      drawVariables(chat.role_variables || {});
    }
    heading.textContent = chat.name || 'Chat';
    clear(transcript);
    for (const m of chat.messages) {
      if (m.role === 'human') transcript.append(questionBubble(m.content.text));
      else transcript.append(answerCard(m.content, {name: 'answer'}));
    }
    for (const a of chatList.querySelectorAll('a')) {
      if (a.getAttribute('href') === `#ask/${encodeURIComponent(id)}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    transcript.scrollTop = transcript.scrollHeight;
  }

  async function ensureChat() {
    if (state.chat) return state.chat;
    const [kind, id] = source.value.split(/:(.*)/s);
    const body = kind === 'ds' ? {datasource_id: id} : {bot_id: id};
    state.chat = await api('/chats', {method: 'POST', body: {...body, ...roleChoice()}});
    history.replaceState(null, '', `#ask/${encodeURIComponent(state.chat.id)}`);
    return state.chat;
  }

  // --- asking --------------------------------------------------------------------------------
  async function ask() {
    const text = question.value.trim();
    if (!text || state.busy || !source.value) return;
    state.busy = true;
    askButton.disabled = true;
    transcript.querySelector('.welcome')?.remove();
    transcript.append(questionBubble(text));
    const pending = pendingAnswer();
    transcript.append(pending.card);
    transcript.scrollTop = transcript.scrollHeight;
    question.value = '';
    try {
      const chat = await ensureChat();
      if (!state.chat.name) heading.textContent = text.slice(0, 80);
      let finished = false;
      for await (const {event, data} of stream(`/chats/${encodeURIComponent(chat.id)}/messages`, {question: text, stream: true})) {
        if (event === 'message') { pending.finish(data.content, {name: 'answer'}); finished = true; }
        else if (event === 'error') { pending.fail(data.detail || 'The question could not be answered.'); finished = true; }
        else pending.event(event, data);
      }
      if (!finished) pending.fail('The answer stopped before it finished; please ask again.');
      transcript.scrollTo({top: pending.card.offsetTop - 12, behavior: 'smooth'});
      state.chat.name = state.chat.name || text;
      await loadChats();
    } catch (exc) {
      pending.fail(exc.detail || exc.message);
      if (exc.status === 401) return;
    } finally {
      state.busy = false;
      askButton.disabled = false;
      question.focus();
    }
  }

  composer.addEventListener('submit', e => { e.preventDefault(); ask(); });
  question.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); ask(); }
  });

  await loadChats();
  question.disabled = askButton.disabled = false;
  if (args[0]) await openChat(args[0]);
  else newChat();

  mount.update = async next => {
    if (next[0] && next[0] !== state.chat?.id) await openChat(next[0]);
    else if (!next[0] && state.chat) newChat();
  };
  return () => { mount.update = null; };
}

export function update(args) {
  return mount.update?.(args);
}
