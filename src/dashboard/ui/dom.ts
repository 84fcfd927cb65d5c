/** A few DOM helpers: elements are built with text content only (never HTML strings), so nothing a device or a vendor names can become markup. */

type Attrs = Record<string, string | number | boolean | undefined>;

/** `<tag attrs>children</tag>`; `false`/`undefined` attributes are left out, `class` and `data-*` are plain attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

/** The element with `id`; throws when the page lacks it (a broken build, not a user's problem). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

export function clear(e: Element): void {
  while (e.firstChild !== null) e.firstChild.remove();
}

let toastTimer: number | undefined;

/** A short message in the corner: errors stay 6 s, notes 3 s. */
export function toast(message: string, kind: 'error' | 'info' = 'error'): void {
  const t = byId('toast');
  t.textContent = message;
  t.className = kind === 'info' ? 'info' : '';
  t.hidden = false;
  if (toastTimer !== undefined) clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    t.hidden = true;
  }, kind === 'info' ? 3000 : 6000);
}
