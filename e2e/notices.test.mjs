// Flow: notices. The secretariat publishes an important network-wide notice (with a line
// break in its text); hospital.doctor, signed in in another browser, finds it on the home
// page under 重要なお知らせ（未読） with the unread badge in the navigation, opens it (the
// line break is kept, the badge count drops), and the secretariat's read count for the
// notice rises by one on reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, signIn, stepper, pathOf } from './browser.mjs';

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

const TITLE = '【重要】緊急連絡網の確認のお願い（e2e）';

async function readCount(page) {
  const read = Number(await page.locator('#read-count').innerText());
  const audience = Number(await page.locator('#audience-count').innerText());
  return { read, audience };
}

async function badge(page) {
  const b = page.locator('#notices-badge');
  return (await b.count()) === 0 ? 0 : Number(await b.innerText());
}

test('an important notice reaches another member, who reads it, and the publisher sees the count rise', async (t) => {
  const step = stepper(t);
  const { page: sec } = await newPage(browser);
  const { page: doc } = await newPage(browser);
  await signIn(sec, server.baseUrl, 'secretariat', DEMO_PASSWORD, DEMO_TOTP_SECRET);
  await signIn(doc, server.baseUrl, 'hospital.doctor', DEMO_PASSWORD, DEMO_TOTP_SECRET);

  let noticeUrl;
  let before;
  await step('the secretariat publishes an important notice to the whole network', async () => {
    await sec.goto(`${server.baseUrl}/notices`);
    await Promise.all([sec.waitForNavigation(), sec.click('#new-notice')]);
    assert.equal(pathOf(sec), '/notices/new');
    assert.ok(await sec.locator('input[name=scope][value=network]').isChecked());
    await sec.fill('#n-title', TITLE);
    await sec.fill('#n-body', '各施設の夜間連絡先を確認してください。\n変更があれば事務局までご連絡ください。');
    await sec.check('input[name=importance][value=important]');
    await Promise.all([sec.waitForNavigation(), sec.click('#notice-submit')]);
    assert.match(pathOf(sec), /^\/notices\/[^/]+$/);
    noticeUrl = sec.url().split('?')[0];
    assert.equal(await sec.locator('#notice-title').innerText(), `重要 ${TITLE}`);
    before = await readCount(sec);
    assert.equal(before.read, 1, 'the publisher is in the audience and has seen it');
    assert.ok(before.audience > 100, `the demo network's members, got ${before.audience}`);
  });

  let unreadBefore;
  await step('hospital.doctor sees it on the home page as unread', async () => {
    await doc.goto(`${server.baseUrl}/`);
    const section = doc.locator('#important-notices');
    await section.waitFor();
    assert.ok((await section.innerText()).includes(TITLE));
    unreadBefore = await badge(doc);
    assert.ok(unreadBefore >= 1, 'the navigation shows unread notices');
    await screenshot(doc, 'notices-home');
  });

  await step('hospital.doctor opens it', async () => {
    await Promise.all([
      doc.waitForNavigation(),
      doc.locator('#important-notices a', { hasText: TITLE }).click(),
    ]);
    assert.equal(doc.url().split('?')[0], noticeUrl);
    assert.equal(await doc.locator('#notice-body').innerText(), '各施設の夜間連絡先を確認してください。\n変更があれば事務局までご連絡ください。');
    assert.equal(await doc.locator('#notice-reach').count(), 0, 'readers do not see the counts');
    assert.equal(await badge(doc), unreadBefore - 1);
    await doc.goto(`${server.baseUrl}/`);
    const home = await doc.content();
    assert.ok(!home.includes(TITLE), 'no longer listed as unread on the home page');
  });

  await step("the secretariat's read count rises by one", async () => {
    await sec.goto(noticeUrl);
    const after = await readCount(sec);
    assert.equal(after.read, before.read + 1);
    assert.equal(after.audience, before.audience);
    await screenshot(sec, 'notices-read-count');
  });
});
