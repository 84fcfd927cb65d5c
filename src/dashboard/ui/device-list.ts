/**
 * The device list, virtualised: only the rows in view (plus a few) exist in the DOM, positioned over a spacer as
 * tall as the whole list, so 1,000 devices cost as much to render and update as 30.
 */
import { el } from './dom.js';
import { rate } from './format.js';
import type { Row, Store } from './store.js';

const ROW_HEIGHT = 28;
const OVERSCAN = 8;

export class DeviceList {
  readonly #store: Store;
  readonly #box: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #pool: HTMLElement[] = [];
  readonly #onSelect: (uuid: string) => void;
  #scheduled = 0;

  constructor(store: Store, box: HTMLElement, spacer: HTMLElement, onSelect: (uuid: string) => void) {
    this.#store = store;
    this.#box = box;
    this.#spacer = spacer;
    this.#onSelect = onSelect;
    box.addEventListener('scroll', () => this.schedule(), { passive: true });
    window.addEventListener('resize', () => this.schedule());
    box.addEventListener('click', (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>('.row');
      const uuid = row?.dataset.uuid;
      if (uuid !== undefined && uuid !== '') this.#onSelect(uuid);
    });
  }

  schedule(): void {
    if (this.#scheduled !== 0) return;
    this.#scheduled = requestAnimationFrame(() => {
      this.#scheduled = 0;
      this.render();
    });
  }

  render(): void {
    const rows = this.#store.rows();
    this.#spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(this.#box.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const count = Math.min(rows.length - first, Math.ceil(this.#box.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN);
    while (this.#pool.length < count) {
      const r = el('div', { class: 'row' }, el('span', { class: 'uuid' }), el('span'), el('span'), el('span'), el('span'), el('span'), el('span'));
      this.#box.append(r);
      this.#pool.push(r);
    }
    while (this.#pool.length > Math.max(count, 0)) this.#pool.pop()?.remove();
    for (let i = 0; i < count; i++) this.#fill(this.#pool[i]!, rows[first + i]!, first + i);
  }

  #fill(e: HTMLElement, r: Row, index: number): void {
    e.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    e.dataset.uuid = r.uuid;
    e.classList.toggle('selected', r.uuid === this.#store.selected);
    const cells = e.children;
    const a = this.#store.activity.get(r.uuid);
    const rates = this.#store.rates(r.uuid);
    set(cells[0]!, r.uuid);
    set(cells[1]!, `${r.parent} / ${r.type}`);
    set(cells[2]!, r.state);
    cells[2]!.className = `state-${r.state}`;
    set(cells[3]!, r.definition);
    set(cells[4]!, a?.client === undefined ? '—' : `pid ${a.client.pid} (uid ${a.client.uid})`);
    set(cells[5]!, rate(rates.req));
    set(cells[6]!, rate(rates.irq));
  }
}

/** Write text only when it changed: most updates touch a handful of cells. */
function set(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
