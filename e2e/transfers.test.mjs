// Flow: 救急搬送 (emergency transfer, 001 Kitami). homenurse (訪問看護) sends a shared demo
// patient to hospital.doctor's hospital: chief complaint, ETA, ambulance, vital signs, a note
// and an ECG photo. The doctor's notification badge rises; the doctor finds the transfer
// under 受入れ on /transfers, sees the vital signs and the photo, acknowledges with a
// preparation note, marks the arrival and sends feedback. The nurse reads the
// acknowledgement and the feedback on the transfer page.
//
// Two users, each signs in exactly once in its own browser context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, signIn, explainRefusal, stepper } from './browser.mjs';

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
const COMPLAINT = '呼吸困難・SpO2低下 訪問時';

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

// datetime-local value 30 minutes from now in JST.
function etaValue() {
  const t = new Date(Date.now() + 30 * 60_000 + 9 * 3600_000);
  return t.toISOString().slice(0, 16);
}

test('transfers: request with vitals and photo, acknowledgement, arrival, feedback to the sender', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  const nurse = server.logins['homenurse'];
  const doctor = server.logins['hospital.doctor'];
  assert.ok(nurse && doctor, `the demo banner should list homenurse and hospital.doctor (got ${Object.keys(server.logins)})`);
  let person;
  let transferUrl;

  // The sender reads the hospital's steps only where the consent shares the hospital's data
  // with it: a patient under a comprehensive consent.
  await step('a patient the nurse and the doctor both care for, under a comprehensive consent, is found', async () => {
    const np = await as('homenurse');
    const dp = await as('hospital.doctor');
    await np.goto(`${server.baseUrl}/patients`);
    const people = await np.$$eval('#patients-table tbody a[href^="/patients/"]', (as) => as.map((a) => a.getAttribute('href')));
    for (const href of people.slice(0, 60)) {
      const [a, b] = [
        await np.request.get(`${server.baseUrl}${href}/transfers/new`),
        await dp.request.get(`${server.baseUrl}${href}/record`),
      ];
      if (a.status() !== 200 || b.status() !== 200) continue;
      await np.goto(`${server.baseUrl}${href}`);
      if ((await np.locator('#consent-status').textContent()).includes('包括同意')) {
        person = href;
        break;
      }
    }
    assert.ok(person, 'a shared patient under a comprehensive consent exists in the demo');
  });

  await step('the nurse sends the patient to the doctor\'s hospital; the doctor\'s badge rises', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(`${server.baseUrl}/`);
    const before = await badgeCount(dp);

    const np = await as('homenurse');
    await np.goto(`${server.baseUrl}${person}/transfers/new`);
    await np.selectOption('#receiver', { label: doctor.facility });
    await np.fill('#complaint', COMPLAINT);
    await np.fill('#eta', etaValue());
    await np.selectOption('#means', 'ambulance');
    await np.fill('#systolic', '92');
    await np.fill('#diastolic', '58');
    await np.fill('#pulse', '118');
    await np.fill('#spo2', '86');
    await np.fill('#note', '在宅酸素2L。本日朝から呼吸苦増悪。');
    await np.setInputFiles('#file', { name: 'ECG.png', mimeType: 'image/png', buffer: PNG });
    const [res] = await Promise.all([np.waitForNavigation(), np.click('#transfer-form button[type=submit]')]);
    await explainRefusal(res);
    assert.equal(res.status(), 200);
    transferUrl = np.url().split('?')[0];
    assert.match(new URL(transferUrl).pathname, /^\/transfers\/[^/]+$/);
    assert.equal((await np.locator('#transfer-complaint').textContent()).trim(), COMPLAINT);
    assert.equal((await np.locator('#transfer-status').textContent()).trim(), '依頼中');
    await screenshot(np, 'transfer-sent');

    await dp.waitForFunction(
      (n) => {
        const b = document.getElementById('notify-badge');
        return b && !b.hidden && Number(b.textContent.trim().replace('+', '')) > n;
      },
      before,
      { timeout: 15_000 },
    );
  });

  await step('the doctor finds it under 受入れ, sees vitals and photo, acknowledges with a preparation note', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(`${server.baseUrl}/transfers`);
    const link = dp.locator(`#transfers-incoming a[href="${new URL(transferUrl).pathname}"]`);
    assert.equal(await link.count(), 1, 'listed as incoming');
    await link.click();
    await dp.waitForLoadState();
    const vitals = await dp.locator('#transfer-vitals').textContent();
    assert.ok(vitals.includes('92/58'), vitals);
    assert.ok(vitals.includes('86'), vitals);
    const photo = await dp.request.get(`${transferUrl}/photo`);
    assert.equal(photo.status(), 200);
    assert.equal(photo.headers()['content-type'], 'image/png');
    await dp.fill('#acknowledge-form textarea[name=note]', '救急外来で受入れ。NPPV準備済み。');
    const [res] = await Promise.all([dp.waitForNavigation(), dp.click('#acknowledge-form button[type=submit]')]);
    await explainRefusal(res);
    assert.equal((await dp.locator('#transfer-status').textContent()).trim(), '受入れ了解');
    const [res2] = await Promise.all([dp.waitForNavigation(), dp.click('#arrived-form button[type=submit]')]);
    await explainRefusal(res2);
    assert.equal((await dp.locator('#transfer-status').textContent()).trim(), '到着');
  });

  await step('the doctor sends feedback after treatment; the nurse reads it', async () => {
    const dp = await as('hospital.doctor');
    await dp.fill('#diagnosis', '心不全急性増悪');
    await dp.fill('#treatment', 'NPPV、利尿薬静注');
    await dp.selectOption('#outcome', 'admitted');
    await dp.fill('#message', '循環器内科病棟に入院しました。退院前にご連絡します。');
    const [res] = await Promise.all([dp.waitForNavigation(), dp.click('#feedback-form button[type=submit]')]);
    await explainRefusal(res);
    assert.equal((await dp.locator('#transfer-status').textContent()).trim(), '結果返信済み');

    const np = await as('homenurse');
    await np.goto(transferUrl);
    assert.equal((await np.locator('#feedback-diagnosis').textContent()).trim(), '心不全急性増悪');
    assert.ok((await np.locator('#feedback-message').textContent()).includes('循環器内科病棟に入院'));
    assert.ok((await np.locator('#transfer-steps').textContent()).includes('NPPV準備済み'));
    assert.equal(await np.locator('#feedback-form').count(), 0, 'the sender has no receiver forms');
    await screenshot(np, 'transfer-feedback');
  });
});
