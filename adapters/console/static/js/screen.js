// The shape the management screens share: a list at #name, one item at #name/<id>, redrawn in place.

import {append, clear, h} from './dom.js';

/** mount/update for a screen drawn by `overview(page, ctx)` or `detail(page, id, ctx)`. */
export function listAndDetail(overview, detail) {
  let draw = null;
  return {
    async mount(view, args, ctx) {
      const page = h('div', {class: 'page'});
      view.append(page);
      draw = async next => {
        clear(page);
        await (next[0] ? detail(page, next[0], ctx) : overview(page, ctx));
      };
      await draw(args);
      return () => { draw = null; };
    },
    update(args) { return draw?.(args); },
  };
}

/** What an item page shows when its id no longer exists (or may not be seen). */
export function missing(page, exc, href, label) {
  append(page, h('p', {class: 'error', role: 'alert'}, exc.detail || exc.message), h('a', {href}, label));
}
