// Flow: home care on a tablet. homenurse (訪問看護) and hospital.doctor share a demo
// patient. The nurse sets the patient's alert limits (systolic ≤ 150 mmHg), then records a
// visit — blood pressure 168/92, SpO2, meals, fluids, a BPSD note — with an impossible SpO2
// first (refused, the form kept). The stored visit shows the out-of-limits value flagged and
// the doctor's notification badge rises on the open page; the doctor follows the inbox link
// to the care log. Then the nurse adds a team goal and the doctor records progress on it,
// which also appears on the timeline.
//
// Two users, each signs in exactly once in its own browser context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, explainRefusal, stepper } from './browser.mjs';

let server;
let browser;
const pages = {};

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

async function submit(page, selector) {
  const [res] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  await explainRefusal(res);
  return res;
}

async function badgeCount(page) {
  return page.$eval('#notify-badge', (b) => (b.hidden ? 0 : Number(b.textContent.trim().replace('+', ''))));
}

/** `YYYY-MM-DDTHH:MM` in Japan, `minutes` from now. */
function jstLocal(minutes) {
  return new Date(Date.now() + minutes * 60_000 + 9 * 3600_000).toISOString().slice(0, 16);
}

test('home care: alert limits, a visit outside them notifies the doctor, team goals', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  let base; // /patients/{id}

  await step('a patient the nurse and the doctor share is found from the nurse\'s list', async () => {
    const np = await as('homenurse');
    const dp = await as('hospital.doctor');
    await np.goto(`${server.baseUrl}/patients`);
    const people = await np.$$eval('#patients-table tbody a[href^="/patients/"]', (as) => as.map((a) => a.getAttribute('href')));
    for (const href of people.slice(0, 30)) {
      const url = `${server.baseUrl}${href}/care-log`;
      const [a, b] = [await np.request.get(url), await dp.request.get(url)];
      if (a.status() === 200 && b.status() === 200) {
        base = `${server.baseUrl}${href}`;
        break;
      }
    }
    assert.ok(base, 'a shared patient with consent in force exists in the demo');
    await np.goto(base);
    await Promise.all([np.waitForNavigation(), np.click('#care-log-link')]);
    assert.equal(pathOf(np), `${new URL(base).pathname}/care-log`);
  });

  await step('the nurse sets the patient\'s limits: systolic at most 150 mmHg', async () => {
    const np = await as('homenurse');
    await np.locator('#limits-form summary').click();
    // The demo may have set limits already: start from an empty form.
    for (const input of await np.locator('#limits-form table input').all()) await input.fill('');
    await np.fill('#systolic_high', '150');
    await np.fill('#limits_note', '心不全：収縮期 150 超で主治医へ');
    const res = await submit(np, '#limits-form button[type=submit]');
    assert.equal(res.status(), 200);
    assert.equal((await np.textContent('#limits-current')).trim(), '収縮期血圧 ≤150 mmHg');
  });

  await step('an impossible SpO2 is refused with the form kept; the corrected visit alerts the team', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(`${server.baseUrl}/`);
    const before = await badgeCount(dp);

    const np = await as('homenurse');
    const form = np.locator('#visit-form');
    if (!(await form.evaluate((d) => d.open))) await form.locator('summary').click();
    await np.fill('#at', jstLocal(-10));
    await np.fill('#systolic', '168');
    await np.fill('#diastolic', '92');
    await np.fill('#spo2', '140');
    await np.fill('#meal_staple', '50');
    await np.fill('#fluid', '800');
    await np.fill('#note', '夕方に落ち着かず、帰宅願望あり');
    let res = await submit(np, '#visit-form button[type=submit]');
    assert.equal(res.status(), 400);
    const errors = await np.$$eval('#visit-errors li.error', (lis) => lis.map((li) => li.textContent.trim()));
    assert.deepEqual(errors, ['SpO2：50〜100%の範囲で入力してください。']);
    assert.equal(await np.inputValue('#systolic'), '168', 'the form is kept');
    assert.equal(await np.inputValue('#note'), '夕方に落ち着かず、帰宅願望あり');

    await np.fill('#spo2', '95');
    res = await submit(np, '#visit-form button[type=submit]');
    assert.equal(res.status(), 200);
    assert.match(await np.textContent('main > .alert.ok[role=status]'), /ケアチームに通知しました/);
    const row = np.locator('#visits-table tbody tr').first();
    assert.equal((await row.locator('td.out-of-limits').first().textContent()).replace(/\s+/g, ' ').trim(), '168 !');
    assert.match(await row.textContent(), /夕方に落ち着かず/);
    assert.ok((await np.locator('#visits figure.chart').count()) >= 1, 'trend charts are drawn');
    await screenshot(np, 'care-log-visit');

    await dp.waitForFunction(
      (n) => {
        const b = document.getElementById('notify-badge');
        return b && !b.hidden && Number(b.textContent.trim().replace('+', '')) > n;
      },
      before,
      { timeout: 15_000 },
    );
  });

  await step('the doctor follows the inbox entry to the care log', async () => {
    const dp = await as('hospital.doctor');
    await dp.goto(`${server.baseUrl}/notifications`);
    const entry = dp.locator('li[id^="n-"]', { hasText: '個別アラート範囲外の値' }).first();
    assert.equal(await entry.count(), 1);
    await Promise.all([dp.waitForNavigation(), entry.locator('form[action$="/open"] button').click()]);
    assert.equal(pathOf(dp), `${new URL(base).pathname}/care-log`);
    assert.match(await dp.textContent('#visits-table'), /168/);
  });

  await step('the nurse adds a team goal; the doctor records progress, also on the timeline', async () => {
    const np = await as('homenurse');
    await np.goto(`${base}/goals`);
    const form = np.locator('#goal-form');
    if (!(await form.evaluate((d) => d.open))) await form.locator('summary').click();
    await np.fill('#description', '自宅のトイレまで歩いて行ける');
    await np.selectOption('#domain', 'rehabilitation');
    let res = await submit(np, '#goal-form button[type=submit]');
    assert.equal(res.status(), 200);
    const goalId = new URL(np.url()).hash.replace('#goal-', '');
    assert.ok(goalId);

    const dp = await as('hospital.doctor');
    await dp.goto(`${base}/goals`);
    const card = dp.locator(`#goal-${goalId}`);
    assert.match(await card.locator('.goal-text').textContent(), /自宅のトイレまで歩いて行ける/);
    assert.equal(await card.locator('.status-form').count(), 0, 'only the setting facility changes its status');
    await card.locator('.progress-form summary').click();
    await card.locator('select[name=assessment]').selectOption('improving');
    await card.locator('textarea[name=text]').fill('手すりを使って 10 m 歩行できた');
    res = await submit(dp, `#goal-${goalId} .progress-form button[type=submit]`);
    assert.equal(res.status(), 200);
    const note = dp.locator(`#goal-${goalId} li.progress`).first();
    assert.match(await note.textContent(), /改善[\s\S]*手すりを使って 10 m 歩行できた/);
    await screenshot(dp, 'team-goal-progress');

    await dp.goto(`${base}/timeline`);
    assert.match(await dp.textContent('#timeline'), /【目標の経過：改善】自宅のトイレまで歩いて行ける/);
  });
});
