// Bots: each with its webhook URL per platform, where it was defined (a YAML file or the API) and
// its access rules; admins create and edit the API-defined ones (file-defined bots are read-only).

import {api} from './api.js';
import {append, clear, field, h, toast, when} from './dom.js';

const enc = encodeURIComponent;
const PLATFORMS = {slack: 'Slack', telegram: 'Telegram', feishu: 'Feishu / Lark'};

export async function mount(view, args, {me}) {
  const page = h('div', {class: 'page'});
  view.append(page);
  const admin = me.scope === 'priv_admin';
  const datasources = admin ? (await api('/datasources?size=200')).items : [];
  const names = Object.fromEntries(datasources.map(d => [d.id, d.name]));
  const draw = async () => {
    clear(page);
    const list = h('div', {class: 'stack'});
    const editor = h('div');
    append(page, h('div', {class: 'row'}, h('h1', {}, 'Bots'), h('span', {class: 'spacer'}),
      admin ? h('button', {type: 'button', class: 'primary', onclick: () => edit(editor, null, datasources, draw)}, 'New bot') : null),
    editor, list);
    const {items} = await api('/bots');
    if (!items.length) list.append(h('p', {class: 'muted panel'}, admin ? 'No bots yet: create one, or put a YAML file in $TABLETALK_HOME/bots/.' : 'No bots for this key.'));
    for (const bot of items) list.append(card(bot, admin, names, () => edit(editor, bot, datasources, draw)));
  };
  mount.update = draw;
  await draw();
  return () => { mount.update = null; };
}

export function update() { return mount.update?.(); }

function card(bot, admin, names, onEdit) {
  const hooks = Object.entries(bot.webhooks || {});
  const rules = bot.access || {};
  const ruleLines = [
    rules.default ? `everyone else → ${rules.default.role || 'no role'}${vars(rules.default.variables)}` : null,
    ...(rules.users || []).map(u => `${u.platform}:${u.user} → ${u.role || 'no role'}${vars(u.variables)}`),
  ].filter(Boolean);
  return h('article', {class: 'panel', 'aria-label': `Bot ${bot.name}`},
    h('div', {class: 'node-head'}, h('h2', {}, bot.name), h('code', {class: 'muted'}, bot.id),
      h('span', {class: 'badge'}, bot.source_file ? 'file' : 'API'),
      admin && !bot.source_file ? h('button', {type: 'button', class: 'small', onclick: onEdit, 'aria-label': `Edit bot ${bot.name}`}, 'Edit') : null),
    h('dl', {class: 'kv'},
      h('dt', {}, 'Defined in'), h('dd', {}, bot.source_file || 'the REST API'),
      bot.datasource_ids ? [h('dt', {}, 'Datasources'), h('dd', {}, bot.datasource_ids.map(id => names[id] || id).join(', '))] : null,
      h('dt', {}, 'Webhooks'), h('dd', {}, hooks.length
        ? h('ul', {class: 'list compact'}, hooks.map(([p, path]) => h('li', {}, h('strong', {}, PLATFORMS[p] || p), h('span', {class: 'url'}, location.origin + path))))
        : h('span', {class: 'muted'}, 'no platform channels configured')),
      rules.default || rules.users ? [h('dt', {}, 'Access'), h('dd', {}, ruleLines.length
        ? h('ul', {class: 'list compact'}, ruleLines.map(l => h('li', {}, l))) : h('span', {class: 'muted'}, 'open (no rules)'))] : null,
      bot.sample_questions?.length ? [h('dt', {}, 'Samples'), h('dd', {}, bot.sample_questions.join(' · '))] : null,
      bot.modified_at ? [h('dt', {}, 'Updated'), h('dd', {}, when(bot.modified_at))] : null));
}

function vars(v) {
  const entries = Object.entries(v || {});
  return entries.length ? ` (${entries.map(([k, x]) => `${k}=${x}`).join(', ')})` : '';
}

function edit(box, bot, datasources, done) {
  clear(box);
  const creating = !bot;
  const id = h('input', {type: 'text', value: bot?.id || '', required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', disabled: !creating});
  const name = h('input', {type: 'text', value: bot?.name || '', required: true});
  const dsBox = h('fieldset', {class: 'parents'}, h('legend', {}, 'Datasources'),
    datasources.map(d => h('label', {class: 'check'}, h('input', {type: 'checkbox', value: d.id, checked: (bot?.datasource_ids || []).includes(d.id)}), d.name)));
  const welcome = h('input', {type: 'text', value: bot?.welcome_message || ''});
  const samples = h('textarea', {rows: 3}, (bot?.sample_questions || []).join('\n'));
  const privacy = h('select', {}, ['thread', 'ephemeral', 'dm'].map(v => h('option', {value: v, selected: (bot?.group_privacy || 'thread') === v}, v)));
  const access = h('textarea', {class: 'code', rows: 5, spellcheck: 'false'});
  access.value = JSON.stringify(bot?.access || {default: null, users: []}, null, 2);
  const channels = h('textarea', {class: 'code', rows: 5, spellcheck: 'false'});
  channels.value = JSON.stringify(bot?.channels || {}, null, 2);
  const form = h('form', {class: 'panel stack', 'aria-label': creating ? 'New bot' : `Edit bot ${bot.name}`},
    h('h2', {}, creating ? 'New bot' : `Edit ${bot.name}`),
    h('div', {class: 'row'}, field('Bot id', id, 'lowercase slug, used in webhook URLs'), field('Name', name), field('Group privacy', privacy)),
    dsBox, field('Welcome message', welcome), field('Sample questions (one per line)', samples),
    h('div', {class: 'grid2'}, field('Access rules (JSON)', access, '{"default": {"role": ..., "variables": {...}}, "users": [{"platform", "user", "role", "variables"}]}'),
      field('Channels (JSON)', channels, 'secrets shown as *** are kept unless you replace them')),
    h('div', {class: 'row'}, h('button', {type: 'submit', class: 'primary'}, creating ? 'Create bot' : 'Save bot'),
      h('button', {type: 'button', onclick: () => clear(box)}, 'Cancel'),
      !creating ? h('button', {type: 'button', class: 'danger', onclick: remove}, 'Delete bot') : null));
  async function remove() {
    if (!confirm(`Delete bot ${bot.name}?`)) return;
    await api(`/bots/${enc(bot.id)}`, {method: 'DELETE'});
    clear(box);
    done();
  }
  form.addEventListener('submit', async e => {
    e.preventDefault();
    let accessValue, channelValue;
    try { accessValue = JSON.parse(access.value || '{}'); channelValue = JSON.parse(channels.value || '{}'); } catch (exc) {
      return toast(`Access rules and channels must be JSON: ${exc.message}`, 'error');
    }
    const body = {name: name.value.trim(), datasource_ids: [...dsBox.querySelectorAll('input:checked')].map(i => i.value),
      welcome_message: welcome.value, sample_questions: samples.value.split('\n').map(s => s.trim()).filter(Boolean),
      group_privacy: privacy.value, access: accessValue, channels: channelValue};
    if (!body.welcome_message) delete body.welcome_message;
    try {
      if (creating) await api('/bots', {method: 'POST', body: {id: id.value.trim(), ...body}});
      else await api(`/bots/${enc(bot.id)}`, {method: 'PATCH', body});
      clear(box);
      toast(creating ? 'Bot created.' : 'Bot saved.');
      done();
    } catch (exc) { toast(exc.detail, 'error'); }
  });
  box.append(form);
  (creating ? id : name).focus();
}
