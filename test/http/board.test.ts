/**
 * The slot board in a real browser: Debian's Chromium, headless, on a scheduler on the real Redis.
 * The page follows tasks starting and stopping without a reload, shows task ids as text, fits a
 * phone's width, runs under its Content-Security-Policy without a complaint, and falls back to
 * polling when its live feed is refused. Screenshots go to the run's artefacts.
 */
import test from 'ava';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { HttpServer } from '../../src/http/index.js';
import { ScriptedBackend, harness, slots } from '../../src/testing/scheduler-kit.js';
import { holderOf } from '../../src/views/slot-status.js';
import { artifactsDir, launchChromium } from '../helpers/chromium.js';
import { closeSlotKinds, redisKind } from '../helpers/slot-kinds.js';

test.after.always(closeSlotKinds);

/** A task id a careless page would run as HTML. */
const hostileId = '<img src=x onerror="window.pwned=1">';
/** A task id with no place to break it: the page must wrap it, not scroll sideways. */
const longId = `report-${'x'.repeat(120)}`;

/** In the page (a string: these tests compile without the DOM's types). */
const noSidewaysScroll = 'document.documentElement.scrollWidth <= window.innerWidth';

const card = (page: Page, slotId: string) => page.locator(`#slots li[data-slot-id="${slotId}"]`);

test('the board follows tasks live, shows ids as text, fits a phone, and polls when the feed is refused', async (t) => {
  t.timeout(40_000);
  const h = await harness(t, redisKind);
  const backend = new ScriptedBackend();
  const scheduler = h.scheduler({ reports: backend });
  await scheduler.load(slots(4, ['reports']));
  const server = await HttpServer.start(scheduler, { port: 0 });
  t.teardown(() => server.close());

  const browser = await launchChromium();
  // Closed before the server, so the server's close waits for no page.
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const complaints: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') complaints.push(message.text());
  });
  page.on('pageerror', (error) => complaints.push(error.message));

  const response = await page.goto(server.url);
  t.regex(response!.headers()['content-security-policy']!, /default-src 'self'/);
  await page.locator('#link[data-link="live"]').waitFor();
  t.is(await page.locator('#name').textContent(), h.name);
  t.is(await page.locator('#slots li[data-state="idle"]').count(), 4);
  t.is(await page.locator('#total').textContent(), '4');
  t.is(await page.locator('#health-label').textContent(), 'healthy');
  // A reload would lose this: the checks below see one page, updated in place.
  await page.evaluate('window.boardPage = 1');

  backend.queue.push('nightly-report', hostileId, longId);
  await scheduler.schedule();
  await card(page, '1').and(page.locator('[data-state="running"]')).waitFor();
  t.is(await card(page, '1').locator('.task').textContent(), 'nightly-report');
  t.is(await card(page, '1').locator('.backend').textContent(), 'reports');
  t.is(await card(page, '1').locator('.holder').textContent(), `${holderOf(scheduler.owner)!.host}:${process.pid}`);
  t.is(await card(page, '2').locator('.task').textContent(), hostileId);
  t.is(await card(page, '3').locator('.task').textContent(), longId);
  t.is(await page.locator('#busy').textContent(), '3');
  t.is(await page.locator('#slots img').count(), 0, 'a task id is never parsed as HTML');
  t.is(await page.evaluate('window.pwned'), undefined);
  t.regex((await card(page, '1').locator('.left').textContent())!, /^\d+m \d\ds$|^\d+s$/);
  t.regex((await card(page, '1').locator('.started').textContent())!, /^\d+s ago$/);
  await page.locator('#events li[data-kind="start"]', { hasText: 'nightly-report' }).waitFor();
  await page.screenshot({ path: join(artifactsDir(), 'board-desktop.png'), fullPage: true });

  await scheduler.stop('nightly-report', { status: 'succeeded' });
  await card(page, '1').and(page.locator('[data-state="idle"]')).waitFor();
  t.is(await card(page, '1').locator('.task').textContent(), '—');
  await page.locator('#events li[data-kind="stop"]', { hasText: 'nightly-report' }).waitFor();
  t.regex(
    (await page.locator('#events li[data-kind="stop"]').first().textContent())!,
    /stopped.*nightly-report.*slot 1.*stopped, succeeded/,
  );
  await page.locator('#history li[data-outcome="succeeded"]', { hasText: 'nightly-report' }).waitFor();
  t.is(await page.locator('#busy').textContent(), '2');
  t.is(await page.evaluate('window.boardPage'), 1, 'the page was not reloaded');

  // A phone: the cards stack in one column and nothing scrolls sideways, the long id included.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(noSidewaysScroll);
  const lefts = await page.locator('#slots li').evaluateAll((cards) => cards.map((c) => Math.round(c.getBoundingClientRect().left)));
  t.is(new Set(lefts).size, 1, `one column: ${lefts.join(', ')}`);
  t.true(await page.evaluate(noSidewaysScroll));
  await page.screenshot({ path: join(artifactsDir(), 'board-phone.png'), fullPage: true });
  t.deepEqual(complaints, [], 'no console error: the Content-Security-Policy let everything the page needs through');

  // A proxy that refuses the event stream: the page polls /slots instead and still shows the slots.
  const polling = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await polling.route('**/events*', (route) => route.fulfill({ status: 502, body: 'no streams here' }));
  await polling.goto(server.url);
  await polling.locator('#link[data-link="polling"]').waitFor();
  t.is(await card(polling, '2').locator('.task').textContent(), hostileId);
  t.is(await card(polling, '1').getAttribute('data-state'), 'idle');
  t.is(await polling.locator('#health-label').textContent(), 'healthy');
});
