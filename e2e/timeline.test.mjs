// Flow: the care team's timeline between two facilities. homenurse (訪問看護) and
// hospital.doctor share a demo patient. The doctor waits on the home page; the nurse posts an
// urgent report with a photo, and the doctor's notification badge rises without a reload
// (Server-Sent Events). The nurse sees "not read by anyone yet"; the doctor opens the
// timeline (the photo is served as an image) and the nurse, reloading, sees the doctor's
// read receipt. The doctor cannot edit the nurse's post (no edit form; a forged edit is
// refused and the text stays).
//
// Two users, each signs in exactly once in its own browser context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, explainRefusal, stepper } from './browser.mjs';

let server;
let browser;
const pages = {};

// A valid 1×1 PNG (one black pixel; CRCs correct): a real image by content.
const PNG = Buffer.from(
  [
    '89504e470d0a1a0a',
    '0000000d' + '49484452' + '0000000100000001' + '0800000000' + '3a7e9b55',
    '0000000a' + '49444154' + '789c6360000000020001' + '48afa471',
    '00000000' + '49454e44' + 'ae426082',
  ].join(''),
  'hex',
);
const POST_TEXT = '本日訪問。仙骨部の発赤が拡大しています。写真を添付します。';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function as(loginId) {
  if (!pages[loginId]) {
    const { page } = await newPage(browser);
    await signIn(page, server.baseUrl, loginId, DEMO_PASSWORD, DEMO_TOTP_SECRET);
    pages[loginId] = page;
  }
  return pages[loginId];
}

async function badgeCount(page) {
  return page.$eval('#notify-badge', (b) => (b.hidden ? 0 : Number(b.textContent.trim().replace('+', ''))));
}

test('timeline: urgent post with a photo, live badge, read receipt from a second user', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  const nurse = server.logins['homenurse'];
  const doctor = server.logins['hospital.doctor'];
  assert.ok(nurse && doctor, `the demo banner should list homenurse and hospital.doctor (got ${Object.keys(server.logins)})`);
  let timelineUrl;
  let postId;

  await step('a patient the nurse and the doctor both care for is found from the nurse\'s list', async () => {
    const np = await as('homenurse');
    const dp = await as('hospital.doctor');
    await np.goto(`${server.baseUrl}/patients`);
    const people = await np.$$eval('#patients-table tbody a[href^="/patients/"]', (as) => as.map((a) => a.getAttribute('href')));
    assert.ok(people.length > 0, 'the nurse has patients');
    for (const href of people.slice(0, 30)) {
      const url = `${server.baseUrl}${href}/timeline`;
      const [a, b] = [await np.request.get(url), await dp.request.get(url)];
      if (a.status() === 200 && b.status() === 200) {
        timelineUrl = url;
        break;
      }
    }
    assert.ok(timelineUrl, 'a shared patient with consent in force exists in the demo');
  });

  await step('the doctor waits on the home page; the nurse posts an urgent report with a photo', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(`${server.baseUrl}/`);
    const before = await badgeCount(dp);

    const np = await as('homenurse');
    await np.goto(timelineUrl);
    const form = np.locator('#timeline-form');
    if (!(await form.evaluate((d) => d.open))) await form.locator('summary').click();
    await np.selectOption('#tl-kind', 'report');
    await np.check('#timeline-form input[name=urgent]');
    await np.fill('#tl-text', POST_TEXT);
    await np.setInputFiles('#tl-file', { name: 'IMG_0815.png', mimeType: 'image/png', buffer: PNG });
    const [res] = await Promise.all([np.waitForNavigation(), np.click('#timeline-form button[type=submit]')]);
    await explainRefusal(res);
    assert.equal(res.status(), 200);
    postId = new URL(np.url()).hash.replace('#post-', '');
    assert.ok(postId, `the page lands on the new post: ${np.url()}`);
    const post = np.locator(`#post-${postId}`);
    assert.ok((await post.locator('.post-text').textContent()).includes(POST_TEXT));
    assert.equal(await post.locator('.urgent-badge').count(), 1);
    assert.equal((await post.locator('.facility').textContent()).trim(), nurse.facility);
    assert.equal((await post.locator('.receipts').textContent()).trim(), 'まだ誰も読んでいません');
    // The photo is an image the browser can decode.
    const img = post.locator('img.post-photo');
    assert.equal(await img.count(), 1);
    await img.scrollIntoViewIfNeeded();
    await np.waitForFunction((sel) => {
      const i = document.querySelector(sel);
      return i && i.complete && i.naturalWidth === 1;
    }, `#post-${postId} img.post-photo`);
    await screenshot(np, 'timeline-posted');

    // The doctor's badge rises on the page already open (no reload).
    await dp.waitForFunction(
      (n) => {
        const b = document.getElementById('notify-badge');
        return b && !b.hidden && Number(b.textContent.trim().replace('+', '')) > n;
      },
      before,
      { timeout: 15_000 },
    );
    assert.equal(await badgeCount(dp), before + 1);
  });

  await step('the doctor reads the timeline; the nurse sees the read receipt', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(timelineUrl);
    const post = dp.locator(`#post-${postId}`);
    assert.ok((await post.locator('.post-text').textContent()).includes(POST_TEXT));
    assert.equal(await post.locator('.edit-form').count(), 0, 'only the author may edit');

    const np = await as('homenurse');
    await np.goto(timelineUrl);
    const receipts = (await np.locator(`#post-${postId} .receipts`).textContent()).replace(/\s+/g, ' ').trim();
    assert.equal(receipts, `既読 1: ${doctor.name}`);
    await screenshot(np, 'timeline-read-receipt');
  });

  await step('an edit forged by the doctor is refused and the text stays', async () => {
    const dp = await as('hospital.doctor');
    const csrf = await dp.$eval('input[name=csrf]', (i) => i.value);
    const res = await dp.request.post(`${timelineUrl}/${postId}/edit`, {
      form: { csrf, version: '1', kind: 'report', text: '改ざん' },
      headers: { Origin: server.baseUrl },
      maxRedirects: 0,
    });
    assert.ok(res.status() >= 400, `a forged edit must be refused, got ${res.status()}`);
    await dp.goto(timelineUrl);
    assert.ok((await dp.locator(`#post-${postId} .post-text`).textContent()).includes(POST_TEXT));
    assert.equal(pathOf(dp), new URL(timelineUrl).pathname);
  });
});
