// The slot board's script: shows each snapshot of GET /events, counts times down between them,
// and polls GET /slots instead when the live feed cannot be had. Everything from the store is
// written with textContent, never parsed as HTML: task ids are anyone's input.

const $ = (id) => document.getElementById(id);

/** With guardReads, the page was opened with ?token=…: the feed takes it the same way. */
const token = new URLSearchParams(location.search).get('token');
const feedUrl = token ? `events?token=${encodeURIComponent(token)}` : 'events';
const authHeaders = token ? { Authorization: `Bearer ${token}` } : {};

/** No snapshot this long after opening the feed: a proxy may be holding it back, so poll. */
const firstSnapshotMs = 5000;
const pollMs = 2000;
const tickMs = 1000;

/** The elements showing a time, with the value it had when received and which way it runs. */
let clocks = [];
let receivedAt = performance.now();

/** "1m 05s", "3h 12m", "2d 4h": short and steady enough to read while it counts. */
function span(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Shows a time that moves on its own: an age grows, a time left shrinks. */
function clock(element, baseMs, kind) {
  clocks.push({ element, baseMs, kind });
  showClock(clocks[clocks.length - 1], 0);
}

function showClock({ element, baseMs, kind }, elapsed) {
  if (kind === 'left') {
    const left = baseMs - elapsed;
    element.textContent = left >= 0 ? span(left) : `overdue ${span(left)}`;
    element.dataset.late = String(left < 0);
  } else {
    element.textContent = `${span(baseMs + elapsed)} ago`;
  }
}

setInterval(() => {
  const elapsed = performance.now() - receivedAt;
  for (const entry of clocks) showClock(entry, elapsed);
}, tickMs);

/** The same rule as the server's boardSlotState, for the slots of /slots. */
function stateOf(slot) {
  if (slot.overdue) return 'overdue';
  if (slot.configured === false) return 'draining';
  return slot.status;
}

function setLink(state, text) {
  const link = $('link');
  link.dataset.link = state;
  link.textContent = text;
}

function textElement(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

/** Forgets the clocks of the last render: the next ones count from now. */
function restartClocks() {
  clocks = [];
  receivedAt = performance.now();
}

/** Renders the slots and the header: `now` is the server's clock when they were read. */
function renderSlots(slots, now) {
  const template = $('slot-card');
  const cards = slots.map((slot) => {
    const card = template.content.firstElementChild.cloneNode(true);
    const state = slot.state ?? stateOf(slot);
    const o = slot.occupancy;
    card.dataset.slotId = slot.slotId;
    card.dataset.state = state;
    card.querySelector('.slot-id').textContent = `slot ${slot.slotId}`;
    card.querySelector('.state').textContent = state;
    card.querySelector('.task').textContent = o ? o.taskId : '—';
    card.querySelector('.backend').textContent = o ? o.backend : slot.backends.join(', ') || '—';
    const holder = slot.holder;
    card.querySelector('.holder').textContent = holder ? (holder.pid === null ? holder.host : `${holder.host}:${holder.pid}`) : '—';
    const left = card.querySelector('.left');
    if (slot.timeLeftMs === null) left.textContent = '—';
    else clock(left, slot.timeLeftMs, 'left');
    const started = card.querySelector('.started');
    const keepalive = card.querySelector('.keepalive');
    if (o) {
      clock(started, now - o.startedAt, 'age');
      clock(keepalive, now - o.lastKeepaliveAt, 'age');
    } else {
      started.textContent = '—';
      keepalive.textContent = '—';
    }
    return card;
  });
  $('slots').replaceChildren(...cards);
  $('no-slots').hidden = slots.length > 0;

  const counts = {};
  for (const slot of slots) counts[slot.state ?? stateOf(slot)] = (counts[slot.state ?? stateOf(slot)] ?? 0) + 1;
  $('busy').textContent = String(slots.filter((slot) => slot.status === 'running').length);
  $('total').textContent = String(slots.length);
  const parts = ['running', 'overdue', 'reserved', 'draining', 'idle'].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  $('counts').textContent = parts.length ? `(${parts.join(', ')})` : '';
}

function renderHealth(health) {
  const box = $('health');
  if (!health) {
    box.dataset.health = 'unknown';
    $('health-label').textContent = 'health unknown';
    $('problems').replaceChildren();
    return;
  }
  box.dataset.health = health.healthy ? 'healthy' : 'unhealthy';
  $('health-label').textContent = health.healthy ? (health.ready ? 'healthy' : 'healthy, not ready') : 'unhealthy';
  $('problems').replaceChildren(...health.problems.map((problem) => textElement('li', 'problem', problem)));
}

const eventLabels = { start: 'started', stop: 'stopped', timeout: 'timed out', reject: 'rejected', 'pass-error': 'pass failed' };

function renderEvents(events, now) {
  const items = [...events].reverse().map((event) => {
    const item = document.createElement('li');
    item.dataset.kind = event.kind;
    const when = textElement('span', 'when', '');
    clock(when, now - event.at, 'age');
    item.append(when, textElement('span', 'what', eventLabels[event.kind] ?? event.kind));
    if (event.taskId !== null) item.append(textElement('span', 'task-id', event.taskId));
    if (event.slotId !== null) item.append(textElement('span', 'slot-ref', `slot ${event.slotId}`));
    if (event.backend !== null) item.append(textElement('span', 'backend', event.backend));
    const detail = [event.reason, event.status].filter((part) => part !== null).join(', ');
    if (detail) item.append(textElement('span', 'detail', detail));
    if (event.error !== null) item.append(textElement('span', 'error', event.error));
    return item;
  });
  $('events').replaceChildren(...items);
  $('events-note').hidden = items.length > 0;
  $('events-note').textContent = 'None yet.';
}

function renderHistory(history, now) {
  const note = $('history-note');
  if (history.records === null) {
    $('history').replaceChildren();
    note.hidden = false;
    note.textContent = history.error;
    return;
  }
  const items = history.records.map((record) => {
    const item = document.createElement('li');
    item.dataset.outcome = record.outcome;
    const when = textElement('span', 'when', '');
    clock(when, now - (record.endedAt ?? record.startedAt), 'age');
    item.append(when, textElement('span', 'outcome', record.outcome), textElement('span', 'task-id', record.taskId));
    item.append(textElement('span', 'slot-ref', `slot ${record.slotId}`), textElement('span', 'backend', record.backend));
    const detail = [record.reason, record.status].filter((part) => part !== null).join(', ');
    if (detail) item.append(textElement('span', 'detail', detail));
    if (record.endedAt !== null) item.append(textElement('span', 'detail', `ran ${span(record.endedAt - record.startedAt)}`));
    if (record.error !== null) item.append(textElement('span', 'error', record.error));
    return item;
  });
  $('history').replaceChildren(...items);
  note.hidden = items.length > 0;
  note.textContent = 'None yet.';
}

function renderSnapshot(snapshot) {
  $('name').textContent = snapshot.scheduler.name;
  document.title = `${snapshot.scheduler.name}: ${snapshot.summary.busy}/${snapshot.summary.total} busy`;
  restartClocks();
  renderSlots(snapshot.slots, snapshot.at);
  renderHealth(snapshot.health);
  renderEvents(snapshot.events, snapshot.at);
  renderHistory(snapshot.history, snapshot.at);
}

/** The live feed; on failure before its first snapshot, polling instead. */
function connect() {
  if (typeof EventSource !== 'function') return poll('this browser has no EventSource');
  const source = new EventSource(feedUrl);
  let live = false;
  let firstTimer;
  const giveUp = (why) => {
    clearTimeout(firstTimer);
    source.close();
    poll(why);
  };
  firstTimer = setTimeout(() => live || giveUp(`no live update within ${firstSnapshotMs / 1000} s`), firstSnapshotMs);
  source.addEventListener('snapshot', (message) => {
    live = true;
    clearTimeout(firstTimer);
    renderSnapshot(JSON.parse(message.data));
    setLink('live', 'live');
  });
  source.addEventListener('problem', (message) => setLink('failed', `live, but: ${JSON.parse(message.data).message}`));
  source.addEventListener('error', () => {
    // EventSource retries a dropped connection by itself; CLOSED means it gave up (an answer that is not a stream).
    if (source.readyState === EventSource.CLOSED) giveUp('the live feed was refused');
    else setLink('reconnecting', 'reconnecting…');
  });
}

/** Reads /slots and /healthz every few seconds: slots and health only, without events or history. */
function poll(why) {
  const note = `polling every ${pollMs / 1000} s (${why})`;
  $('events-note').hidden = false;
  $('events-note').textContent = 'Not available while polling.';
  $('events').replaceChildren();
  $('history-note').hidden = false;
  $('history-note').textContent = 'Not available while polling.';
  $('history').replaceChildren();
  const once = async () => {
    try {
      const response = await fetch('slots', { headers: authHeaders, cache: 'no-store' });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
      }
      const slots = await response.json();
      // The server's Date header stands for its clock, as a snapshot's `at` does.
      const now = Date.parse(response.headers.get('Date') ?? '') || Date.now();
      restartClocks();
      renderSlots(slots, now);
      const health = await fetch('healthz', { cache: 'no-store' }).then(
        (r) => r.json(),
        () => null,
      );
      renderHealth(health);
      setLink('polling', note);
    } catch (error) {
      setLink('failed', `cannot read the slots: ${error.message}`);
    } finally {
      setTimeout(once, pollMs);
    }
  };
  void once();
}

connect();
