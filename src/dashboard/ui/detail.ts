/**
 * The selected device: what it is, who holds it, what it is doing (counters with a minute of history), its screen
 * and console, and, for a user allowed to change devices, the actions, each the API call the CLI makes. A
 * read-only user gets no controls at all (and the API would refuse them anyway).
 */
import { ApiError, call, callLines } from './api.js';
import { byId, clear, el, toast } from './dom.js';
import { bytes, rate, since } from './format.js';
import { liveConsole, liveScreen } from './live-views.js';
import { sparkline } from './sparkline.js';
import { HISTORY, type Store } from './store.js';
import type { SessionInfo } from './types.js';

export class Detail {
  readonly #store: Store;
  readonly #session: SessionInfo;
  readonly #box: HTMLElement;
  #shown: string | undefined;
  #shownKey = '';
  #live: { stop(): void }[] = [];

  constructor(store: Store, session: SessionInfo) {
    this.#store = store;
    this.#session = session;
    this.#box = byId('detail');
  }

  /** Rebuild when the selection or the device's shape changed; otherwise refresh the figures in place. */
  render(): void {
    const uuid = this.#store.selected;
    const row = uuid === undefined ? undefined : this.#store.rows().find((r) => r.uuid === uuid);
    const key = row === undefined ? '' : `${row.uuid}|${row.state}|${row.definition}|${row.device?.online ?? ''}`;
    if (key !== this.#shownKey) {
      this.#shownKey = key;
      this.#build();
    }
    this.update();
  }

  #stopLive(): void {
    for (const l of this.#live.splice(0)) l.stop();
  }

  #build(): void {
    const uuid = this.#store.selected;
    const row = uuid === undefined ? undefined : this.#store.rows().find((r) => r.uuid === uuid);
    const sameDevice = row?.uuid === this.#shown && row?.device !== undefined;
    if (!sameDevice) this.#stopLive();
    clear(this.#box);
    byId('detail-title').textContent = row === undefined ? '— select one' : row.uuid;
    this.#shown = row?.uuid;
    if (row === undefined) return;
    const d = row.device;
    this.#box.append(
      el('dl', { class: 'kv' },
        el('dt', {}, 'parent / type'), el('dd', {}, `${row.parent} / ${row.type}`),
        el('dt', {}, 'state'), el('dd', { 'data-field': 'state' }, row.state),
        el('dt', {}, 'definition'), el('dd', {}, row.definition === '—' ? 'not defined' : `defined, ${row.definition} start`),
        el('dt', {}, 'socket'), el('dd', { class: 'uuid' }, d?.socket ?? '—'),
        el('dt', {}, 'client'), el('dd', { 'data-field': 'client' }, '—'),
        el('dt', {}, 'device host'), el('dd', { 'data-field': 'host' }, '—'),
      ),
    );
    if (this.#session.privileged) this.#box.append(this.#actions(row.uuid, row.parent, row.type, d?.online, d !== undefined, row.definition));
    if (d === undefined) return;
    const counters = el('div', { class: 'counters' });
    for (const [name, label] of [['req', 'requests/s'], ['irq', 'interrupts/s'], ['err', 'errors/s'], ['dma', 'DMA bytes/s']] as const) {
      counters.append(el('div', { class: 'counter', 'data-counter': name }, el('span', {}, label), el('b', {}, '0'), el('canvas', {})));
    }
    this.#box.append(counters, el('div', { class: 'note', 'data-field': 'totals' }, ''));
    if (!this.#session.privileged) {
      this.#box.append(el('p', { class: 'note' }, 'Screens and console output are tenant data: they need root or the API group.'));
      return;
    }
    if (sameDevice && this.#live.length > 0) {
      // The device's shape changed (online, definition), not the device: keep the live views running.
      this.#box.append(...this.#liveNodes);
      return;
    }
    const img = el('img', { id: 'screen', alt: `screen of ${row.uuid}` });
    const screenNote = el('div', { class: 'note' }, 'waiting for the screen…');
    const pre = el('pre', { id: 'console' });
    const consoleNote = el('div', { class: 'note' }, 'waiting for UART output…');
    const screenBox = el('div', {}, el('h2', {}, 'Screen'), screenNote, img);
    const consoleBox = el('div', {}, el('h2', {}, 'Console'), consoleNote, pre);
    this.#liveNodes = [screenBox, consoleBox];
    this.#box.append(screenBox, consoleBox);
    this.#live.push(
      liveScreen(row.uuid, img, (p) => {
        screenBox.hidden = p?.errno === 'EOPNOTSUPP';
        img.hidden = p !== undefined;
        screenNote.textContent = p === undefined ? '' : p.errno === 'EBUSY' ? `display off: ${p.message}` : p.message;
      }),
      liveConsole(row.uuid, pre, (p) => {
        consoleBox.hidden = p?.errno === 'EOPNOTSUPP';
        consoleNote.textContent = p === undefined ? '' : p.message;
      }),
    );
  }

  #liveNodes: HTMLElement[] = [];

  /** Figures of the shown device, from the latest activity. */
  update(): void {
    const uuid = this.#shown;
    if (uuid === undefined) return;
    const a = this.#store.activity.get(uuid);
    const field = (name: string): HTMLElement | null => this.#box.querySelector(`[data-field="${name}"]`);
    const client = field('client');
    if (client !== null) client.textContent = a?.client === undefined ? '—' : `pid ${a.client.pid}, uid ${a.client.uid}, gid ${a.client.gid}, for ${since(a.client.since)}`;
    const host = field('host');
    if (host !== null) host.textContent = a?.host === undefined ? 'none (served in umdevd, or no client yet)' : `pid ${a.host.pid}, uid ${a.host.uid}, RSS ${bytes(a.host.rssBytes)}, CPU ${a.host.cpuSeconds.toFixed(2)} s`;
    const s = this.#store.series.get(uuid);
    for (const name of ['req', 'irq', 'err', 'dma'] as const) {
      const box = this.#box.querySelector(`[data-counter="${name}"]`);
      if (box === null) continue;
      const values = s?.[name] ?? [];
      const last = values[values.length - 1] ?? 0;
      (box.querySelector('b') as HTMLElement).textContent = name === 'dma' ? `${bytes(Math.round(last))}` : rate(last);
      sparkline(box.querySelector('canvas') as HTMLCanvasElement, values, HISTORY);
    }
    const totals = field('totals');
    const c = a?.counters;
    if (totals !== null) {
      totals.textContent = c === undefined ? 'no vfio-user activity yet' : `totals: ${c.requests} requests (${c.errors} failed, mean ${c.latency.count === 0 ? 0 : ((c.latency.sum / c.latency.count) * 1e6).toFixed(1)} µs), ${c.interrupts} interrupts, ${c.dmaMaps} DMA maps / ${c.dmaUnmaps} unmaps, ${bytes(c.dmaBytes)} by DMA`;
    }
  }

  #actions(uuid: string, parent: string, type: string, online: boolean | undefined, active: boolean, definition: string): HTMLElement {
    const box = el('div', { class: 'actions' });
    const act = (label: string, action: string, run: () => Promise<unknown>, danger = false): void => {
      const b = el('button', { type: 'button', 'data-action': action, class: danger ? 'danger' : undefined }, label);
      b.addEventListener('click', () => {
        b.disabled = true;
        run().then(
          () => toast(`${label}: done`, 'info'),
          (e: unknown) => toast(e instanceof ApiError ? `${label}: ${e.errno}: ${e.message}` : `${label}: ${String(e)}`),
        ).finally(() => {
          b.disabled = false;
        });
      });
      box.append(b);
    };
    if (active) {
      act(online === false ? 'Online' : 'Offline', 'online', () => call('POST', `/api/devices/${uuid}/online`, { online: online === false }));
      act('Reset', 'reset', () => call('POST', `/api/devices/${uuid}/reset`));
      act('Remove', 'remove', () => call('DELETE', `/api/devices/${uuid}`), true);
      act('Force remove', 'force-remove', () => call('DELETE', `/api/devices/${uuid}?force=1`), true);
    } else {
      act('Start', 'start', () => call('POST', '/api/devices', { parent, type, uuid }));
    }
    if (definition === '—') {
      act('Define (auto)', 'define-auto', () => call('POST', '/api/definitions', { parent, type, uuid, start: 'auto' }));
      act('Define (manual)', 'define-manual', () => call('POST', '/api/definitions', { parent, type, uuid, start: 'manual' }));
    } else {
      act('Undefine', 'undefine', () => call('DELETE', `/api/definitions/${encodeURIComponent(parent)}/${uuid}`), true);
    }
    if (active && this.#session.peers.length > 0) {
      const select = el('select', { 'aria-label': 'migrate to' }, ...this.#session.peers.map((p) => el('option', { value: p }, p)));
      const progress = el('span', { class: 'note', 'data-field': 'migration' });
      const b = el('button', { type: 'button', 'data-action': 'migrate' }, 'Migrate');
      b.addEventListener('click', () => {
        b.disabled = true;
        progress.textContent = 'starting…';
        callLines(`/api/devices/${uuid}/migrate`, { peer: select.value }, (line) => {
          const l = line as { phase?: string; bytes?: number; done?: { totalMs: number }; error?: { errno: string; message: string } };
          if (l.phase !== undefined) progress.textContent = `${l.phase}${l.bytes === undefined ? '' : ` ${bytes(l.bytes)}`}`;
          if (l.done !== undefined) progress.textContent = `moved in ${l.done.totalMs} ms`;
          if (l.error !== undefined) progress.textContent = `failed: ${l.error.errno}: ${l.error.message}`;
        }).catch((e: unknown) => toast(`Migrate: ${e instanceof ApiError ? `${e.errno}: ${e.message}` : String(e)}`)).finally(() => {
          b.disabled = false;
        });
      });
      box.append(select, b, progress);
    }
    return box;
  }
}
