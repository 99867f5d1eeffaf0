// Flow: 在宅医療の当番グループ (home-care group cover). clinic.admin creates an on-call group
// and invites homenurse.admin's nursing station; the station administrator's notification
// badge rises without a reload, the inbox names the group, 開く leads to the group and the
// administrator joins. The clinic puts a few of its care-team patients — ones the station
// cannot open — under the group's cover and puts the station on the rota from now; the
// station's nurse (homenurse) finds the group's 当番中 card on the home page and opens a
// covered patient, shown with the group-cover banner. An overlapping shift is refused with
// a form message.
//
// The demo's own on-call group has the clinic on call at the start and the station not for
// a day, so nothing the station opens here comes from the demo's rota.
//
// Three users, each signs in exactly once in its own browser context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, signIn, explainRefusal, stepper, pathOf } from './browser.mjs';

let server;
let browser;
const pages = {};

const GROUP = 'e2e 夜間当番グループ';

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

// datetime-local value of the current minute plus `minutes`, in JST.
function jstInput(minutes) {
  const t = new Date(Math.floor(Date.now() / 60_000) * 60_000 + minutes * 60_000 + 9 * 3600_000);
  return t.toISOString().slice(0, 16);
}

test('cover: group, invitation notified and accepted, a shift, the covering nurse opens a covered patient', { timeout: 120_000 }, async (t) => {
  const step = stepper(t);
  const clinic = server.logins['clinic.admin'];
  const station = server.logins['homenurse.admin'];
  assert.ok(clinic && station && server.logins['homenurse'],
    `the demo banner should list clinic.admin, homenurse.admin and homenurse (got ${Object.keys(server.logins)})`);
  let groupPath;
  const candidates = [];

  await step('the clinic administrator creates an on-call group', async () => {
    const cp = await as('clinic.admin');
    await cp.goto(`${server.baseUrl}/cover-groups`);
    await cp.fill('#g-name', GROUP);
    await cp.fill('#g-description', '平日夜間（18時〜翌8時30分）の往診・緊急訪問');
    const [res] = await Promise.all([cp.waitForNavigation(), cp.click('#cover-create-submit')]);
    await explainRefusal(res);
    assert.match(pathOf(cp), /^\/cover-groups\/[^/]+$/);
    groupPath = pathOf(cp);
    assert.equal((await cp.locator('h1').innerText()).trim(), GROUP);
  });

  await step('inviting the nursing station raises its administrator\'s badge live', async () => {
    const sp = await as('homenurse.admin');
    await sp.goto(`${server.baseUrl}/`);
    const before = await badgeCount(sp);

    const cp = await as('clinic.admin');
    const option = cp.locator('#invite-facility option', { hasText: station.facility });
    assert.equal(await option.count(), 1, 'the station can be invited');
    await cp.selectOption('#invite-facility', await option.getAttribute('value'));
    const [res] = await Promise.all([cp.waitForNavigation(), cp.click('#cover-invite-submit')]);
    await explainRefusal(res);
    assert.ok((await cp.locator('#cover-members').innerText()).includes(station.facility));

    await sp.waitForFunction(
      (n) => {
        const b = document.getElementById('notify-badge');
        return b && !b.hidden && Number(b.textContent.trim().replace('+', '')) > n;
      },
      before,
      { timeout: 15_000 },
    );
  });

  await step('the station administrator finds the invitation in the inbox, opens it and joins', async () => {
    const sp = await as('homenurse.admin');
    await sp.goto(`${server.baseUrl}/notifications`);
    const entry = sp.locator('#inbox li', { hasText: GROUP });
    assert.equal(await entry.count(), 1, 'one inbox entry names the group');
    assert.ok((await entry.innerText()).includes('当番グループへの招待'));
    assert.ok((await entry.innerText()).includes(clinic.facility), 'who invited, with the facility');
    await screenshot(sp, 'cover-invitation-inbox');
    await Promise.all([sp.waitForNavigation(), entry.locator('form[action$="/open"] button').click()]);
    assert.equal(pathOf(sp), groupPath);
    const [res] = await Promise.all([sp.waitForNavigation(), sp.click('#cover-answer .accept-cover')]);
    await explainRefusal(res);
    assert.equal(pathOf(sp), groupPath);
    assert.ok((await sp.locator(`#member-${await facilityIdOf(sp, station.facility)} .member-status`).innerText()).includes('参加中'));
  });

  await step('the clinic puts patients the station cannot open under the group\'s cover', async () => {
    const cp = await as('clinic.admin');
    const np = await as('homenurse');
    await cp.goto(`${server.baseUrl}${groupPath}`);
    const ids = await cp.$$eval('#covered-patients input[name=person]', (xs) => xs.map((x) => x.value));
    assert.ok(ids.length > 20, `the clinic's team patients are listed (${ids.length})`);
    for (const id of ids) {
      const r = await np.request.get(`${server.baseUrl}/patients/${id}`);
      if (r.status() === 404) candidates.push(id);
      if (candidates.length === 5) break;
    }
    assert.equal(candidates.length, 5, 'the clinic has patients the station does not care for');
    for (const id of candidates) await cp.check(`#covered-patients input[value="${id}"]`);
    const [res] = await Promise.all([cp.waitForNavigation(), cp.click('#covered-submit')]);
    await explainRefusal(res);
    for (const id of candidates) assert.ok(await cp.isChecked(`#covered-patients input[value="${id}"]`));
  });

  await step('the clinic puts the station on the rota from now; the nurse opens a covered patient', async () => {
    const cp = await as('clinic.admin');
    if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 6_000));
    const stationId = await facilityIdOf(cp, station.facility);
    await cp.selectOption('#shift-facility', stationId);
    await cp.fill('#shift-on-call', '看護師 千葉（080-0000-0000）');
    await cp.fill('#shift-starts', jstInput(0));
    await cp.fill('#shift-ends', jstInput(180));
    const [res] = await Promise.all([cp.waitForNavigation(), cp.click('#shift-submit')]);
    await explainRefusal(res);
    const current = cp.locator('#rota .shift.current', { hasText: station.facility });
    assert.ok(await current.count() >= 1, 'the shift is under way, marked 当番中');

    const np = await as('homenurse');
    await np.goto(`${server.baseUrl}/`);
    const groupId = groupPath.split('/').pop();
    const card = np.locator(`#on-call-${groupId}`);
    assert.equal(await card.count(), 1, 'the 当番中 card of the new group');
    const listed = await card.locator('.covered-patients a[href^="/patients/"]:not([href$="/record"]):not([href$="/timeline"])')
      .evaluateAll((as) => as.map((a) => a.getAttribute('href').split('/').pop()));
    const open = listed.filter((id) => candidates.includes(id));
    assert.ok(open.length >= 1, `covered patients the consent lets the station open (${listed})`);
    await screenshot(np, 'cover-on-call-card');
    const res2 = await np.goto(`${server.baseUrl}/patients/${open[0]}`);
    assert.equal(res2.status(), 200);
    assert.ok(await np.locator('#cover-banner').isVisible(), 'shown as opened through the group cover');
    assert.ok((await np.locator('#cover-banner').innerText()).includes('当番'));
    await screenshot(np, 'cover-patient');
  });

  await step('an overlapping shift is refused with a form message', async () => {
    const cp = await as('clinic.admin');
    await cp.goto(`${server.baseUrl}${groupPath}`);
    const starts = jstInput(60);
    await cp.fill('#shift-starts', starts);
    await cp.fill('#shift-ends', jstInput(240));
    const [res] = await Promise.all([cp.waitForNavigation(), cp.click('#shift-submit')]);
    assert.equal(res.status(), 422);
    assert.ok((await cp.locator('#form-errors').innerText()).includes('ほかの当番と時間が重なっています'));
    assert.equal(await cp.inputValue('#shift-starts'), starts, 'the values are kept');
  });
});

// A member facility's id, read off the members table by its name.
async function facilityIdOf(page, name) {
  const id = await page.$$eval(
    '#cover-members tbody tr',
    (rows, n) => rows.find((r) => r.cells[0].textContent.includes(n))?.id,
    name,
  );
  assert.ok(id, `${name} is in the members table`);
  return id.replace(/^member-/, '');
}
