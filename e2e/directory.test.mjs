// Flow 1: a hospital doctor signs in (password + TOTP), searches the facility directory by
// kana and by type, switches to English and signs out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, submitPassword, submitCode, signOut, fold, totp, stepper } from './browser.mjs';
import { freshCode } from './totp.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ page } = await newPage(browser, { baseUrl: server.baseUrl }));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function resultCount() {
  const text = await page.textContent('#result-count strong');
  assert.match(text.trim(), /^\d+$/, `#result-count should hold a number, not ${JSON.stringify(text)}`);
  return Number(text.trim());
}

/** Rows of the directory table: name, kana, type label and address. */
async function rows() {
  return page.$$eval('table tbody tr', (trs) =>
    trs.map((tr) => {
      const td = tr.querySelectorAll('td');
      return {
        name: td[0].querySelector('a')?.textContent.trim() ?? '',
        href: td[0].querySelector('a')?.getAttribute('href') ?? '',
        kana: td[0].querySelector('.muted')?.textContent.trim() ?? '',
        type: td[1].textContent.trim(),
        address: td[2].textContent.trim(),
      };
    }),
  );
}

async function search({ q = '', type = '' } = {}) {
  await page.fill('#q', q);
  await page.selectOption('#type', type);
  await Promise.all([page.waitForNavigation(), page.click('form.search button[type=submit]')]);
  assert.equal(pathOf(page), '/facilities');
}

test('hospital.doctor: sign in, search the directory, English, sign out', async (t) => {
  const step = stepper(t);
  const me = server.logins['hospital.doctor'];
  assert.ok(me, `the demo banner should list hospital.doctor (got ${Object.keys(server.logins)})`);

  await step('password then TOTP leads home and greets the user by name', async () => {
    await submitPassword(page, server.baseUrl, 'hospital.doctor', DEMO_PASSWORD);
    assert.equal(pathOf(page), '/login/second-factor');
    const { code, step } = await freshCode(DEMO_TOTP_SECRET);
    // The demo banner shows the current demo code; it must agree with our RFC 6238 helper.
    const banner = (await page.textContent('#demo-code')).trim();
    const nearby = [step - 1, step, step + 1].map((s) => totp(DEMO_TOTP_SECRET, s * 30_000));
    assert.ok(nearby.includes(banner), `banner code ${banner} should be one of ${nearby}`);
    await submitCode(page, code);
    assert.equal(pathOf(page), '/', `after the code: ${page.url()} ${await page.textContent('main')}`);
    assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    const h1 = await page.textContent('h1');
    assert.ok(h1.includes(me.name), `home heading ${JSON.stringify(h1)} should contain ${me.name}`);
    assert.ok((await page.textContent('header .who')).includes(me.name));
  });

  await step('hiragana さくら finds facilities read サクラ, and only those', async (t) => {
    await page.click('header nav a[href="/facilities"]');
    await page.waitForURL(/\/facilities$/);
    assert.equal((await page.textContent('h1')).trim(), '施設検索');
    const all = await resultCount();
    assert.ok(all > 50, `the demo network should list many active facilities (got ${all})`);

    await search({ q: 'さくら' });
    const total = await resultCount();
    assert.ok(total > 0, 'さくら should match something');
    assert.ok(total < all, 'a search should narrow the list');
    const found = await rows();
    assert.equal(found.length, Math.min(total, 50), 'rows on page 1 should match the count');
    // The search covers name, reading, legal entity, address and IDs; the legal entity is
    // only on the detail page, so rows not matching visibly are checked there.
    let viaDetail = 0;
    for (const r of found) {
      if (fold(`${r.name} ${r.kana} ${r.address}`).includes('サクラ')) continue;
      const res = await page.request.get(new URL(r.href, server.baseUrl).href);
      assert.equal(res.status(), 200);
      const legal = /<dd>([^<]*)<\/dd>/g;
      const html = await res.text();
      const facts = [...html.matchAll(legal)].map((m) => m[1]).join(' ');
      assert.ok(fold(facts).includes('サクラ'), `row does not match さくら anywhere: ${JSON.stringify(r)}`);
      viaDetail++;
    }
    t.diagnostic?.(`さくら: ${total} results, ${viaDetail} matched only by legal entity`);
    assert.ok(found.some((r) => r.kana.includes('サクラ')), 'at least one match is by kana reading (サクラ)');
    assert.equal(await page.inputValue('#q'), 'さくら', 'the query stays in the box');
    await screenshot(page, 'flow1-directory-sakura');

    // Katakana and half-width katakana find exactly the same facilities.
    await search({ q: 'サクラ' });
    assert.equal(await resultCount(), total, 'サクラ (katakana) should match as many as さくら');
    await search({ q: 'ｻｸﾗ' });
    assert.equal(await resultCount(), total, 'ｻｸﾗ (half-width) should match as many as さくら');
  });

  await step('type filter 訪問看護 returns only home-visit nursing stations', async () => {
    await search({ q: '', type: 'home_nursing' });
    const total = await resultCount();
    assert.ok(total > 0, 'the demo network has home-visit nursing stations');
    const found = await rows();
    assert.equal(found.length, Math.min(total, 50));
    for (const r of found) assert.equal(r.type, '訪問看護ステーション', `wrong type in ${JSON.stringify(r)}`);
    assert.equal(await page.inputValue('#type'), 'home_nursing', 'the filter stays selected');
    assert.match(page.url(), /[?&]type=home_nursing/);
  });

  await step('switching to English shows English labels', async () => {
    await Promise.all([page.waitForNavigation(), page.click('header a[href^="/lang/en"]')]);
    assert.equal(pathOf(page), '/facilities', 'language switch returns to the same page');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1')).trim(), 'Facility directory');
    assert.ok((await page.textContent('#result-count')).includes('Results'));
    const headers = await page.$$eval('table thead th', (ths) => ths.map((th) => th.textContent.trim()));
    assert.deepEqual(headers.slice(0, 4), ['Facility', 'Type', 'Address', 'Phone']);
    assert.ok((await page.textContent('header nav')).includes('Facility directory'));
    assert.equal((await page.textContent('form[action="/logout"] button')).trim(), 'Sign out');
    // The filter survives the switch and is now labelled in English.
    await search({ q: '', type: 'home_nursing' });
    const found = await rows();
    assert.ok(found.length > 0);
    for (const r of found) assert.equal(r.type, 'Home-visit nursing station');
    await screenshot(page, 'flow1-directory-english');
  });

  await step('sign out ends the session', async () => {
    await signOut(page);
    assert.ok((await page.textContent('main')).includes('You are signed out.'));
    await page.goto(`${server.baseUrl}/facilities`);
    assert.equal(pathOf(page), '/login', 'the directory needs a session');
  });
});
