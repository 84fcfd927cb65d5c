/**
 * The device list, virtualised: only the rows in view (plus a few) exist in the DOM, positioned over a spacer as
 * tall as the whole list, so 1,000 devices cost as much to render and update as 30. An update writes only the
 * cells, classes and positions that changed, and reads no layout (the scroll position and the box's height are
 * kept from its scroll and resize events), so it never forces the browser to lay the page out in the middle of it.
 */
import { el } from './dom.js';
import { rate } from './format.js';
import type { Row, Store } from './store.js';

const ROW_HEIGHT = 28;
const OVERSCAN = 8;

/** A row element of the pool, with what it shows now (so an update writes only what changed). */
interface Line {
  readonly e: HTMLElement;
  readonly cells: HTMLElement[];
  index: number;
  uuid: string;
  selected: boolean;
  state: string;
}

export class DeviceList {
  readonly #store: Store;
  readonly #box: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #pool: Line[] = [];
  readonly #onSelect: (uuid: string) => void;
  #height = -1;
  /** Where the box is scrolled to and how tall it is, kept from its events: render() reads no layout. */
  #top = 0;
  #view = window.innerHeight;
  #scheduled = 0;

  constructor(store: Store, box: HTMLElement, spacer: HTMLElement, onSelect: (uuid: string) => void) {
    this.#store = store;
    this.#box = box;
    this.#spacer = spacer;
    this.#onSelect = onSelect;
    box.addEventListener('scroll', () => {
      this.#top = box.scrollTop;
      this.schedule();
    }, { passive: true });
    new ResizeObserver(() => {
      this.#view = box.clientHeight;
      this.schedule();
    }).observe(box);
    box.addEventListener('click', (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>('.row');
      const uuid = row?.dataset.uuid;
      if (uuid !== undefined && uuid !== '') this.#onSelect(uuid);
    });
  }

  /** Render on the next animation frame (scrolling, resizing); the store's frame calls render() itself. */
  schedule(): void {
    if (this.#scheduled !== 0) return;
    this.#scheduled = requestAnimationFrame(() => {
      this.#scheduled = 0;
      this.render();
    });
  }

  render(): void {
    const rows = this.#store.rows();
    const height = rows.length * ROW_HEIGHT;
    if (height !== this.#height) {
      this.#height = height;
      this.#spacer.style.height = `${height}px`;
    }
    const first = Math.max(0, Math.min(Math.floor(this.#top / ROW_HEIGHT) - OVERSCAN, rows.length - 1));
    const count = Math.max(0, Math.min(rows.length - first, Math.ceil(this.#view / ROW_HEIGHT) + 2 * OVERSCAN));
    while (this.#pool.length < count) {
      const cells = [el('span', { class: 'uuid' }), el('span'), el('span'), el('span'), el('span'), el('span'), el('span')];
      const e = el('div', { class: 'row' }, ...cells);
      this.#box.append(e);
      this.#pool.push({ e, cells, index: -1, uuid: '', selected: false, state: '' });
    }
    while (this.#pool.length > count) this.#pool.pop()?.e.remove();
    for (let i = 0; i < count; i++) this.#fill(this.#pool[i]!, rows[first + i]!, first + i);
  }

  #fill(line: Line, r: Row, index: number): void {
    const { e, cells } = line;
    if (line.index !== index) {
      line.index = index;
      e.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    }
    if (line.uuid !== r.uuid) {
      line.uuid = r.uuid;
      e.dataset.uuid = r.uuid;
    }
    const selected = r.uuid === this.#store.selected;
    if (line.selected !== selected) {
      line.selected = selected;
      e.classList.toggle('selected', selected);
    }
    if (line.state !== r.state) {
      line.state = r.state;
      cells[2]!.className = `state-${r.state}`;
    }
    const a = this.#store.activity.get(r.uuid);
    const rates = this.#store.rates(r.uuid);
    set(cells[0]!, r.uuid);
    set(cells[1]!, `${r.parent} / ${r.type}`);
    set(cells[2]!, r.state);
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
