/** The smaller views: pools (parents and their types, free and used), migrations in progress, the event log. */
import { byId, clear, el } from './dom.js';
import { bytes, clock, since } from './format.js';
import type { Store } from './store.js';

/** What the pools view shows now: it is rebuilt only when that changes (most device events change no count). */
let shownPools = '';
export function renderPools(store: Store): void {
  const box = byId('pools');
  const used = new Map<string, number>();
  for (const d of store.devices.values()) used.set(`${d.parent}/${d.type}`, (used.get(`${d.parent}/${d.type}`) ?? 0) + 1);
  const key = JSON.stringify([store.pools, [...used]]);
  if (key === shownPools) return;
  shownPools = key;
  clear(box);
  for (const p of store.pools) {
    const types = el('div');
    for (const t of p.types) {
      const n = used.get(`${p.name}/${t.id}`) ?? 0;
      const free = t.availableInstances;
      const bar = el('i');
      // The bar shows how much of the type's room is taken; a shared budget (mbochs's MiB) shows in every type's free count.
      if (free !== null && n + free > 0) bar.style.width = `${Math.round((100 * n) / (n + free))}%`;
      types.append(el('div', { class: 'type', 'data-type': `${p.name}/${t.id}` },
        el('span', { title: t.description ?? t.name }, t.id),
        el('span', { class: 'muted' }, `${n} used · ${free === null ? '?' : free} free`),
        el('div', { class: 'bar' }, bar)));
    }
    box.append(el('div', { class: 'pool' }, el('div', { class: 'name' }, p.name, el('span', { class: 'muted' }, ` (${p.driver})`)), types));
  }
}

export function renderMigrations(store: Store): void {
  const box = byId('migrations');
  clear(box);
  if (store.migrations.length === 0) {
    box.textContent = 'none running';
    return;
  }
  for (const m of store.migrations) {
    box.append(el('div', { class: 'mig', 'data-uuid': m.uuid }, `${m.direction === 'out' ? '→' : '←'} ${m.uuid.slice(0, 8)}… ${m.peer}: ${m.phase}, ${bytes(m.bytes)}, ${since(m.startedAt)}`));
  }
}

/** The log shows the newest events first; new ones are prepended, the list stays at 200. */
let shownSeq = -1;
export function renderEvents(store: Store): void {
  const box = byId('events');
  for (const e of store.events) {
    if (e.seq <= shownSeq) continue;
    shownSeq = e.seq;
    const what = `${clock(Date.now())} ${e.kind} ${e.parent}${e.uuid === undefined ? '' : ` ${e.uuid}`}${e.origin === undefined ? '' : ` (${e.origin})`}${e.message === undefined ? '' : `: ${e.message}`}`;
    box.prepend(el('li', { 'data-kind': e.kind, ...(e.uuid === undefined ? {} : { 'data-uuid': e.uuid }) }, what));
  }
  while (box.children.length > 200) box.lastElementChild?.remove();
}
