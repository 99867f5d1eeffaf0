// Flow: the Tele-ICU centre census. hospital.doctor (a physician of the demo's support
// centre hospital) opens /icu: every demo bed is listed under an identification banner
// (facility, unit, bed, kanji + kana name, age, sex, local ID) and the live indicator
// turns to "live" once the WebSocket is open. The demo's monitor simulator keeps sending
// over MLLP; the test watches a heart-rate cell change on the page without any reload
// (a marker set on `window` survives and no new navigation happens). clinic.doctor, a
// physician of a clinic with no ICU, is refused the census (403).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, signIn, stepper } from './browser.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the census shows every bed with its banner and updates live without a reload', async (t) => {
  const step = stepper(t);
  const { page } = await newPage(browser);
  await signIn(page, server.baseUrl, 'hospital.doctor', DEMO_PASSWORD, DEMO_TOTP_SECRET);

  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });

  await step('census lists the demo beds with identification banners', async () => {
    const res = await page.goto(`${server.baseUrl}/icu`);
    assert.equal(res.status(), 200);
    const beds = await page.locator('#census tbody tr.bed:not(.empty)').count();
    assert.ok(beds >= 10, `expected the demo's occupied beds, found ${beds}`);
    const banner = page.locator('#census tbody tr.bed:not(.empty) th.banner').first();
    assert.match(await banner.locator('.name').innerText(), /\S+ \S+/);
    assert.match(await banner.locator('.kana').innerText(), /[\u30A0-\u30FF\u3040-\u309F]/);
    assert.match(await banner.locator('.meta').innerText(), /ID SIM\d+/);
    assert.ok((await banner.locator('.facility-chip').innerText()).length > 0);
    await screenshot(page, 'icu-census');
  });

  await step('the live feed connects', async () => {
    await page.waitForFunction(
      () => document.querySelector('#census-live')?.classList.contains('pending') === false,
      null,
      { timeout: 15_000 },
    );
  });

  await step('a heart rate changes on the page without reloading it', async () => {
    await page.evaluate(() => {
      window.__census_marker = 'still here';
    });
    const navigationsBefore = navigations;
    const before = await page.$$eval('#census tbody tr.bed:not(.empty)', (rows) =>
      Object.fromEntries(rows.map((r) => [r.id, r.querySelector('td[data-item="hr"]')?.textContent ?? ''])),
    );
    // The demo simulator sends every bed once a second; wait for any heart rate to differ.
    await page.waitForFunction(
      (seen) =>
        [...document.querySelectorAll('#census tbody tr.bed:not(.empty)')].some((r) => {
          const v = r.querySelector('td[data-item="hr"]')?.textContent ?? '';
          return v !== '' && r.id in seen && v !== seen[r.id];
        }),
      before,
      { timeout: 30_000 },
    );
    assert.equal(await page.evaluate(() => window.__census_marker), 'still here');
    assert.equal(navigations, navigationsBefore, 'no navigation happened');
  });
  await page.context().close();
});

test('a physician of a facility without an ICU cannot open the census', async () => {
  const { page } = await newPage(browser);
  await signIn(page, server.baseUrl, 'clinic.doctor', DEMO_PASSWORD, DEMO_TOTP_SECRET);
  const res = await page.goto(`${server.baseUrl}/icu`);
  assert.equal(res.status(), 403);
  await page.context().close();
});
