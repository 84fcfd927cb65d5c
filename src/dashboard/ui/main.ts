/**
 * The dashboard page: takes the session (CSRF token, rights) and the first state it was served with, follows the
 * live stream from that state on, and wires the views to the store. Nothing here needs a reload: every change
 * reaches the page through the stream.
 */
import { ApiError, call, session, useSession } from './api.js';
import { Detail } from './detail.js';
import { DeviceList } from './device-list.js';
import { byId, el, toast } from './dom.js';
import { renderEvents, renderMigrations, renderPools } from './panels.js';
import { Store } from './store.js';
import type { ActivityView, Boot, CoreEvent, DefinitionView, DeviceView, MigrationView, ParentView, SessionInfo, Snapshot } from './types.js';

const THEMES = ['system', 'light', 'dark'] as const;

function applyTheme(theme: string): void {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  byId('theme').textContent = `theme: ${theme}`;
}

function setupTheme(): void {
  let theme = localStorage.getItem('umdev-theme') ?? 'system';
  applyTheme(theme);
  byId('theme').addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme as (typeof THEMES)[number]) + 1) % THEMES.length]!;
    localStorage.setItem('umdev-theme', theme);
    applyTheme(theme);
  });
}

function setupCreate(store: Store, s: SessionInfo): void {
  const form = byId<HTMLFormElement>('create');
  if (!s.privileged) {
    form.remove();
    return;
  }
  form.hidden = false;
  const select = form.elements.namedItem('type') as HTMLSelectElement;
  const fill = (): void => {
    const keep = select.value;
    select.replaceChildren(...store.pools.flatMap((p) => p.types.map((t) => el('option', { value: `${p.name}/${t.id}` }, `${p.name} / ${t.id} (${t.availableInstances ?? '?'} free)`))));
    if (keep !== '') select.value = keep;
  };
  store.on('pools', fill);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const [parent, type] = select.value.split('/');
    const uuidInput = form.elements.namedItem('uuid') as HTMLInputElement;
    const define = (form.elements.namedItem('define') as HTMLInputElement).checked;
    const uuid = uuidInput.value.trim();
    void (async () => {
      const d = (await call('POST', '/api/devices', { parent, type, ...(uuid === '' ? {} : { uuid }) })) as DeviceView;
      if (define) await call('POST', '/api/definitions', { parent, type, uuid: d.uuid, start: 'auto' });
      uuidInput.value = '';
      store.selected = d.uuid;
      store.changed('selection');
      toast(`created ${d.uuid}`, 'info');
    })().catch((err: unknown) => toast(err instanceof ApiError ? `create: ${err.errno}: ${err.message}` : `create: ${String(err)}`));
  });
}

/** The session and state the page was served with; undefined when it came without (then both are asked for). */
function boot(): Boot | undefined {
  const block = document.getElementById('boot');
  const text = block?.textContent;
  // Read once: the state is the store's from now on (at 1,000 devices the block is ~300 KB of text).
  block?.remove();
  return text === undefined || text === null || text === '' ? undefined : (JSON.parse(text) as Boot);
}

/** Follow the live stream; `since` is the version of the state the store has, so only what came after is sent. */
function connect(store: Store, since: string | undefined): void {
  const src = new EventSource(since === undefined ? '/api/stream' : `/api/stream?since=${encodeURIComponent(since)}`);
  const on = <T>(name: string, fn: (v: T) => void): void => src.addEventListener(name, (e) => fn(JSON.parse((e as MessageEvent<string>).data) as T));
  on<Snapshot>('snapshot', (s) => store.snapshot(s));
  on<{ upsert: DeviceView[]; removed: string[] }>('devices', (d) => store.applyDevices(d.upsert, d.removed));
  on<ParentView[]>('pools', (p) => {
    store.pools = p;
    store.changed('pools');
  });
  on<DefinitionView[]>('definitions', (d) => store.setDefinitions(d));
  on<ActivityView[]>('activity', (a) => store.setActivity(a));
  on<MigrationView[]>('migrations', (m) => {
    store.migrations = m;
    store.changed('migrations');
  });
  on<CoreEvent>('event', (e) => store.addEvent(e));
  on<{ connected: boolean; message?: string }>('upstream', (u) => {
    store.connected = u.connected;
    store.changed('connection');
  });
  src.addEventListener('open', () => store.changed('connection'));
  src.addEventListener('error', () => {
    // EventSource reconnects by itself; the badge says so meanwhile.
    store.connected = false;
    store.changed('connection');
  });
}

async function start(): Promise<void> {
  // The login URL's token is spent (the session is in a cookie now): out of the address bar and the history entry.
  if (location.search !== '') history.replaceState(null, '', '/');
  setupTheme();
  const b = boot();
  const s = b === undefined ? await session() : useSession(b.session);
  const store = new Store();
  const rights = byId('rights');
  rights.textContent = s.privileged ? 'can change devices' : 'read-only';
  rights.className = `badge ${s.privileged ? 'ok' : 'warn'}`;
  byId('api').textContent = s.api;
  document.body.dataset.privileged = String(s.privileged);
  setupCreate(store, s);
  const detail = new Detail(store, s);
  const list = new DeviceList(store, byId('list'), byId('list-spacer'), (uuid) => {
    store.selected = uuid;
    store.changed('selection');
  });
  // Each view once per frame, whichever of its parts changed.
  const renderList = (): void => list.render();
  const renderDetail = (): void => detail.render();
  const renderPoolsView = (): void => renderPools(store);
  store.on('devices', renderList);
  store.on('activity', renderList);
  store.on('selection', renderList);
  store.on('devices', () => {
    byId('device-count').textContent = `(${store.devices.size} active, ${[...store.definitions.keys()].filter((u) => !store.devices.has(u)).length} defined only)`;
  });
  store.on('devices', renderDetail);
  store.on('selection', renderDetail);
  store.on('activity', () => detail.update());
  store.on('pools', renderPoolsView);
  store.on('devices', renderPoolsView);
  store.on('migrations', () => renderMigrations(store));
  store.on('events', () => renderEvents(store));
  store.on('connection', () => {
    const c = byId('conn');
    c.textContent = store.connected ? 'live' : 'reconnecting…';
    c.className = `badge ${store.connected ? 'ok' : 'warn'}`;
  });
  if (b?.state) store.snapshot(b.state);
  else if (b?.problem !== undefined) toast(`umdevd: ${b.problem}; waiting for the live stream`);
  connect(store, b?.state?.version);
}

start().catch((e: unknown) => toast(e instanceof ApiError ? `cannot open the dashboard: ${e.errno}: ${e.message}` : `cannot open the dashboard: ${String(e)}`));
