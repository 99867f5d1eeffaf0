// Flow: the patient layer. hospital.doctor registers a synthetic patient (after one bad
// submission), records a comprehensive consent excluding psychiatric information and invites
// the care manager's office by its facility ID; the care manager cannot see the patient until
// accepting, an outsider never can; a paramedic opens the emergency summary by break-glass,
// which the team and the secretariat see; after withdrawal the care manager is cut off at once.
//
// Five users, each signs in exactly once and stays signed in in its own browser context, so
// no TOTP code is reused and the test never waits for a new 30-second step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, explainRefusal, stepper } from './browser.mjs';

let server;
let browser;
const pages = {}; // login id → page, one browser context each

// The synthetic patient. Kana are typed in hiragana; the app stores and shows katakana.
const PATIENT = {
  localId: 'E2E-0001',
  familyKanji: '港野',
  givenKanji: '春江',
  familyKana: 'みなとの',
  givenKana: 'はるえ',
  katakana: 'ミナトノ ハルエ',
  birthDate: '1938-04-12',
  sex: 'female',
  sexLabel: '女性',
  postalCode: '053-0022',
  address: '北海道苫小牧市表町9丁目9-9 連携荘101',
  phone: '0144-99-0001',
  careLevel: 'care2',
  careLabel: '要介護2',
};
const FULL_NAME = `${PATIENT.familyKanji} ${PATIENT.givenKanji}`;
const BREAK_GLASS_REASON = '心肺停止状態で搬送中。既往歴と連絡先の確認のため';
const WITHDRAW_REASON = '本人の申し出により撤回';

let personId; // set when the patient is registered
let patientUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A signed-in page for `loginId` (its own context; signs in on first use only). */
async function as(loginId) {
  if (!pages[loginId]) {
    const { page } = await newPage(browser);
    await signIn(page, server.baseUrl, loginId, DEMO_PASSWORD, DEMO_TOTP_SECRET);
    pages[loginId] = page;
  }
  return pages[loginId];
}

/** Clicks a submit button and waits for the resulting page; returns the response. */
async function submit(page, selector) {
  const [res] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  await explainRefusal(res);
  return res;
}

/** Follows a link in the top navigation by its label. */
async function nav(page, label) {
  await Promise.all([page.waitForNavigation(), page.click(`header nav a:text-is("${label}")`)]);
}

async function text(page, selector) {
  return (await page.textContent(selector)).replace(/\s+/g, ' ').trim();
}

async function notice(page) {
  return text(page, 'main > .alert.ok[role=status]');
}

/** Age in whole years on today's date in Japan. */
function ageInJapan(birth) {
  const [y, m, d] = birth.split('-').map(Number);
  const now = new Date(Date.now() + 9 * 3600_000);
  let age = now.getUTCFullYear() - y;
  if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age--;
  return age;
}

/** Opens the patient URL and asserts the generic 404 page, which must not leak the patient. */
async function assertNotFound(page, who) {
  const res = await page.goto(patientUrl);
  assert.equal(res.status(), 404, `${who} should get 404 for ${patientUrl}, got ${res.status()}`);
  assert.equal(await text(page, 'h1'), 'ページが見つかりません');
  const body = await page.textContent('body');
  for (const leak of [PATIENT.familyKanji, PATIENT.givenKanji, 'ミナトノ', PATIENT.birthDate]) {
    assert.ok(!body.includes(leak), `the 404 page for ${who} must not show ${leak}`);
  }
}

/** Rows of /patients: name, kana and link. */
async function patientRows(page) {
  return page.$$eval('#patients-table tbody tr', (trs) =>
    trs.map((tr) => ({
      name: tr.querySelector('td a')?.textContent.trim() ?? '',
      href: tr.querySelector('td a')?.getAttribute('href') ?? '',
      kana: tr.querySelector('td .muted')?.textContent.trim() ?? '',
    })),
  );
}

async function searchPatients(page, q) {
  await page.goto(`${server.baseUrl}/patients`);
  await page.fill('#q', q);
  await submit(page, 'form[action="/patients"] button[type=submit]');
  assert.equal(pathOf(page), '/patients');
  return patientRows(page);
}

test('patients: register, consent, care team, break-glass, withdrawal', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  const cm = server.logins.caremanager;
  const medic = server.logins.paramedic;
  const hospital = server.logins['hospital.doctor'];
  for (const [id, l] of Object.entries({ caremanager: cm, paramedic: medic, 'hospital.doctor': hospital })) {
    assert.ok(l, `the demo banner should list ${id} (got ${Object.keys(server.logins)})`);
  }

  await step('hospital.doctor: a bad registration shows every error and keeps the values', async () => {
    const doc = await as('hospital.doctor');
    await nav(doc, '患者');
    assert.equal(pathOf(doc), '/patients');
    assert.equal(await text(doc, 'h1'), '患者');
    await Promise.all([doc.waitForNavigation(), doc.click('main a[href="/patients/new"]')]);
    assert.equal(await text(doc, 'h1'), '患者の登録');
    assert.match(await text(doc, 'form .muted .code'), /^urn:oid:1\.2\.392\.100495\.20\.3\.51\.1/, 'JP Core identifier system');

    await doc.fill('#local_id', PATIENT.localId);
    await doc.fill('#family_kanji', PATIENT.familyKanji);
    await doc.fill('#given_kanji', PATIENT.givenKanji);
    await doc.fill('#family_kana', PATIENT.familyKanji); // kanji where kana belongs
    await doc.fill('#given_kana', PATIENT.givenKana);
    await doc.fill('#birth_date', '2099-01-01'); // in the future
    // sex left at 選択してください
    await doc.fill('#postal_code', PATIENT.postalCode);
    await doc.fill('#address', PATIENT.address);
    await doc.fill('#phone', PATIENT.phone);
    await doc.selectOption('#care_level', PATIENT.careLevel);
    const res = await submit(doc, 'form[action="/patients/new"] button[type=submit]');
    assert.equal(res.status(), 422);
    assert.equal(pathOf(doc), '/patients/new');
    const errors = await doc.$$eval('form .alert li.error', (lis) => lis.map((li) => li.textContent.trim()));
    assert.equal(errors.length, 3, `three errors expected: ${JSON.stringify(errors)}`);
    assert.ok(errors.some((e) => e.startsWith('姓（ふりがな）')), `kana error: ${JSON.stringify(errors)}`);
    assert.ok(errors.some((e) => e.startsWith('生年月日')), `birth date error: ${JSON.stringify(errors)}`);
    assert.ok(errors.some((e) => e.startsWith('性別')), `sex error: ${JSON.stringify(errors)}`);
    // Everything typed is still there.
    const kept = {
      local_id: PATIENT.localId,
      family_kanji: PATIENT.familyKanji,
      given_kanji: PATIENT.givenKanji,
      family_kana: PATIENT.familyKanji,
      given_kana: PATIENT.givenKana,
      birth_date: '2099-01-01',
      postal_code: PATIENT.postalCode,
      address: PATIENT.address,
      phone: PATIENT.phone,
      care_level: PATIENT.careLevel,
    };
    for (const [id, value] of Object.entries(kept)) {
      assert.equal(await doc.inputValue(`#${id}`), value, `#${id} should keep its value`);
    }
    assert.equal(await doc.inputValue('#sex'), '');
    await screenshot(doc, 'patients-new-errors');
  });

  await step('hospital.doctor: the corrected form registers the patient and shows the identity banner', async () => {
    const doc = await as('hospital.doctor');
    await doc.fill('#family_kana', PATIENT.familyKana);
    await doc.fill('#birth_date', PATIENT.birthDate);
    await doc.selectOption('#sex', PATIENT.sex);
    const res = await submit(doc, 'form[action="/patients/new"] button[type=submit]');
    assert.equal(res.status(), 200);
    const m = /^\/patients\/([^/]+)$/.exec(pathOf(doc));
    assert.ok(m, `registration should land on the patient page, not ${doc.url()}`);
    personId = m[1];
    patientUrl = `${server.baseUrl}/patients/${personId}`;
    assert.equal(await notice(doc), '患者を登録しました（新規）。');

    const banner = doc.locator('section.identity');
    const h1 = (await banner.locator('h1#patient-name').textContent()).replace(/\s+/g, ' ').trim();
    assert.equal(h1, `${FULL_NAME} ${PATIENT.katakana}`, 'name and kana (katakana) in the banner');
    const facts = (await banner.locator('p').first().textContent()).replace(/\s+/g, ' ').trim();
    const age = ageInJapan(PATIENT.birthDate);
    assert.ok(facts.startsWith(`${PATIENT.birthDate}（${age}歳）`), `birth date and age in ${JSON.stringify(facts)}`);
    for (const want of [PATIENT.sexLabel, PATIENT.careLabel, PATIENT.localId, hospital.facility]) {
      assert.ok(facts.includes(want), `banner facts ${JSON.stringify(facts)} should include ${want}`);
    }
    assert.ok(await banner.isVisible());
    // No consent yet; the registering hospital is the only team member.
    assert.ok((await text(doc, '#consent-status')).includes('同意の記録なし'));
    const team = await doc.$$eval('#team-table tbody tr', (trs) => trs.map((tr) => tr.textContent.replace(/\s+/g, ' ').trim()));
    assert.equal(team.length, 1, `team: ${JSON.stringify(team)}`);
    assert.ok(team[0].includes(hospital.facility) && team[0].includes('自施設') && team[0].includes('参加中'), team[0]);
    const reg = await text(doc, '#registrations tbody');
    assert.ok(reg.includes(PATIENT.address) && reg.includes(PATIENT.katakana), `registrations: ${reg}`);
    await screenshot(doc, 'patients-identity');

    // The patient is in the hospital's list, found by hiragana.
    const rows = await searchPatients(doc, 'みなとの');
    assert.deepEqual(rows.map((r) => r.href), [`/patients/${personId}`]);
    assert.equal(rows[0].name, FULL_NAME);
    assert.equal(rows[0].kana, PATIENT.katakana);
  });

  await step('hospital.doctor: records a comprehensive consent excluding 精神科', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(patientUrl);
    await Promise.all([doc.waitForNavigation(), doc.click(`section.identity a[href="/patients/${personId}/consent"]`)]);
    assert.equal(await text(doc, 'h1'), `同意の管理 — ${FULL_NAME}`);
    assert.ok(await doc.isChecked('input[name=scope][value=comprehensive]'), 'comprehensive is the default');
    await doc.check('input[name=excluded][value=psychiatric]');
    const label = await text(doc, 'label:has(input[name=excluded][value=psychiatric])');
    assert.equal(label, '精神科に関する情報');
    await doc.check('input[name=form][value=written]');
    await doc.check('input[name=signer][value=patient]');
    await doc.fill('#place', '苫小牧みなと総合病院 地域連携室');
    await screenshot(doc, 'patients-consent-form');
    const res = await submit(doc, `form[action="/patients/${personId}/consent"] button[type=submit]`);
    assert.equal(res.status(), 200);
    assert.equal(pathOf(doc), `/patients/${personId}`);
    assert.equal(await notice(doc), '同意を記録しました。');
    const status = await text(doc, '#consent-status');
    assert.ok(status.includes('同意あり'), status);
    assert.ok(status.includes('包括同意（ケアに関わる全施設）'), status);
    assert.ok(status.includes('共有しない情報：精神科に関する情報'), status);
  });

  let cmFacilityId;
  await step("hospital.doctor: finds the care manager's facility ID in the directory and invites it", async () => {
    const doc = await as('hospital.doctor');
    await nav(doc, '施設検索');
    await doc.fill('#q', cm.facility);
    await submit(doc, 'form.search button[type=submit]');
    await Promise.all([doc.waitForNavigation(), doc.click(`table tbody tr td a:text-is("${cm.facility}")`)]);
    assert.equal(await text(doc, 'h1'), cm.facility);
    cmFacilityId = await text(doc, 'dl.facts dd.code >> nth=0');
    assert.match(cmFacilityId, /^F\d{5}$/, `facility ID on the detail page: ${cmFacilityId}`);
    t.diagnostic(`${cm.facility} = ${cmFacilityId}`);

    await doc.goto(patientUrl);
    await doc.fill('#facility', cmFacilityId);
    await doc.fill('#note', '退院後の在宅ケアについてご相談させてください。');
    const res = await submit(doc, `form[action="/patients/${personId}/team/invite"] button[type=submit]`);
    assert.equal(res.status(), 200);
    assert.equal(await notice(doc), '施設を招待しました。');
    const row = await text(doc, `#team-table tbody tr:has-text("${cm.facility}")`);
    assert.ok(row.includes('居宅介護支援') && row.includes('招待中'), `team row: ${row}`);
  });

  await step('caremanager: 404 before accepting, then accepts under チーム招待 and sees the patient', async () => {
    const page = await as('caremanager');
    await assertNotFound(page, 'caremanager (invited, not yet accepted)');
    await screenshot(page, 'patients-404');
    const none = await searchPatients(page, 'みなとの');
    assert.equal(none.length, 0, 'not in the care manager\'s list before accepting');

    await nav(page, 'チーム招待');
    assert.equal(pathOf(page), '/invitations');
    assert.equal(await text(page, 'h1'), 'ケアチームへの招待');
    const card = page.locator('.card.invitation', { hasText: FULL_NAME });
    assert.equal(await card.count(), 1, 'one invitation card for the patient');
    const cardText = (await card.textContent()).replace(/\s+/g, ' ');
    for (const want of [PATIENT.katakana, PATIENT.birthDate, `招待元： ${hospital.facility}`, '退院後の在宅ケア']) {
      assert.ok(cardText.includes(want), `invitation card ${JSON.stringify(cardText)} should include ${want}`);
    }
    await screenshot(page, 'patients-invitations');
    const [res] = await Promise.all([page.waitForNavigation(), card.locator('button:text-is("参加する")').click()]);
    await explainRefusal(res);
    assert.equal(res.status(), 200);
    assert.equal(pathOf(page), `/patients/${personId}`);
    assert.equal(await notice(page), 'ケアチームに参加しました。');
    assert.equal(await text(page, 'h1#patient-name'), `${FULL_NAME} ${PATIENT.katakana}`);
    const status = await text(page, '#consent-status');
    assert.ok(status.includes('同意あり') && status.includes('精神科に関する情報'), status);
    const row = await text(page, `#team-table tbody tr:has-text("${cm.facility}")`);
    assert.ok(row.includes('自施設') && row.includes('参加中'), row);
    // The hospital's registration is shared with the team member.
    assert.ok((await text(page, '#registrations tbody')).includes(hospital.facility));
    await screenshot(page, 'patients-caremanager-view');
    const rows = await searchPatients(page, 'みなとの');
    assert.deepEqual(rows.map((r) => r.href), [`/patients/${personId}`], 'in the care manager\'s list now');
  });

  await step('clinic.doctor (outsider): 404 for the patient and nothing in the search', async () => {
    const page = await as('clinic.doctor');
    await assertNotFound(page, 'clinic.doctor');
    for (const q of ['みなとの', FULL_NAME.replace(' ', ''), PATIENT.birthDate, '']) {
      const rows = await searchPatients(page, q);
      assert.ok(!rows.some((r) => r.href.includes(personId) || r.name === FULL_NAME), `clinic sees the patient for q=${q}`);
    }
    // The clinic has demo patients of its own, so the list is not empty: the last search
    // (everything) must show them and still not ours.
    const own = await patientRows(page);
    t.diagnostic(`clinic.doctor sees ${own.length} patients of its own care teams`);
    await page.goto(`${server.baseUrl}/invitations`);
    assert.ok(!(await page.textContent('main')).includes(PATIENT.familyKanji), 'no invitation for the clinic');
  });

  await step('paramedic: break-glass by kana + birth date + reason opens the emergency summary', async () => {
    const page = await as('paramedic');
    await nav(page, '救急時閲覧');
    assert.equal(pathOf(page), '/emergency');
    assert.equal(await text(page, 'h1'), '救急時の閲覧（ブレークグラス）');
    await page.fill('#kana', `${PATIENT.familyKana} ${PATIENT.givenKana}`);
    await page.fill('#birth_date', PATIENT.birthDate);
    await page.fill('#reason', BREAK_GLASS_REASON);
    await screenshot(page, 'patients-emergency-search');
    const res = await submit(page, 'form[action="/emergency"] button[type=submit]');
    assert.equal(res.status(), 200);
    assert.equal(pathOf(page), `/patients/${personId}/emergency`);
    const banner = await text(page, 'main > .alert.warn[role=alert]');
    assert.ok(banner.includes('緊急時の閲覧です（ブレークグラス）'), banner);
    assert.match(banner, /閲覧期限 \d{4}-\d{2}-\d{2} \d{2}:\d{2}/, banner);
    assert.equal(await text(page, 'h1'), '救急時サマリー');
    assert.equal(await text(page, 'h2#patient-name'), `${FULL_NAME} ${PATIENT.katakana}`);
    const identity = await text(page, 'section.identity');
    for (const want of [`${PATIENT.birthDate}（${ageInJapan(PATIENT.birthDate)}歳）`, PATIENT.sexLabel, PATIENT.careLabel, PATIENT.address, PATIENT.phone]) {
      assert.ok(identity.includes(want), `emergency identity ${JSON.stringify(identity)} should include ${want}`);
    }
    const contacts = await text(page, 'main');
    assert.ok(contacts.includes(hospital.facility), 'the hospital is a contact');
    assert.ok(contacts.includes(cm.facility), 'the care manager office is a contact');
    assert.ok(contacts.includes('担当ケアマネジャー（事業所）'));
    assert.ok(contacts.includes('精神科に関する情報'), 'the consent exclusion is shown');
    await screenshot(page, 'patients-emergency-summary');
  });

  await step("hospital.doctor's /patients shows the break-glass notice with the reason", async () => {
    const doc = await as('hospital.doctor');
    await nav(doc, '患者');
    const alert = doc.locator('main .alert.warn[role=status]');
    assert.equal(await alert.count(), 1, 'one break-glass notice box');
    const body = (await alert.textContent()).replace(/\s+/g, ' ');
    assert.ok(body.includes('チームの患者が救急時に閲覧されました'), body);
    assert.ok(body.includes(BREAK_GLASS_REASON), `notice ${JSON.stringify(body)} should give the reason`);
    assert.equal(await alert.locator(`a[href="/patients/${personId}"]`).count(), 1, 'the notice links to the patient');
    await screenshot(doc, 'patients-break-glass-notice');
  });

  await step("the secretariat's /admin/break-glass lists the event", async () => {
    const page = await as('secretariat');
    await nav(page, '緊急閲覧記録');
    assert.equal(pathOf(page), '/admin/break-glass');
    assert.equal(await text(page, 'h1'), '緊急閲覧（ブレークグラス）の記録');
    const rows = await page.$$eval('#break-glass-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
    );
    const ours = rows.filter((r) => r[5] === personId);
    assert.equal(ours.length, 1, `one event for the patient: ${JSON.stringify(rows)}`);
    const [started, user, facility, reason, expires] = ours[0];
    assert.equal(user, `${medic.name}（paramedic）`, "who: name and login ID");
    assert.equal(facility, medic.facility);
    assert.equal(reason, BREAK_GLASS_REASON);
    assert.match(started, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    assert.ok(expires > started, `expires ${expires} after start ${started}`);
    await screenshot(page, 'patients-admin-break-glass');
  });

  await step('hospital.doctor withdraws the consent; the care manager gets 404 at once', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(`${patientUrl}/consent`);
    const form = doc.locator(`form[action^="/patients/${personId}/consent/"][action$="/withdraw"]`);
    assert.equal(await form.count(), 1, 'one active consent to withdraw');
    await form.locator('#wreason').fill(WITHDRAW_REASON);
    const [res] = await Promise.all([doc.waitForNavigation(), form.locator('button[type=submit]').click()]);
    await explainRefusal(res);
    assert.equal(res.status(), 200);
    assert.equal(pathOf(doc), `/patients/${personId}`);
    assert.equal(await notice(doc), '同意の撤回を記録しました。');
    const status = await text(doc, '#consent-status');
    assert.ok(status.includes('同意撤回') && status.includes('撤回の効力発生'), status);
    await screenshot(doc, 'patients-withdrawn');

    const page = await as('caremanager');
    await assertNotFound(page, 'caremanager after the withdrawal');
    const rows = await searchPatients(page, 'みなとの');
    assert.equal(rows.length, 0, 'gone from the care manager\'s list too');
  });

  // Known bug (reported): /patients shows one "representative" registration per person —
  // the first by raw kana, then creation time — and drops the row when that registration is
  // not shared. So a facility's own patient vanishes from its own list when another facility
  // registered the same person first and there is no consent.
  await step('a facility finds its own patient in /patients even when another facility registered them first', async () => {
    const P2 = { localId: 'E2E-0002', family: '汐見', given: '冬子', familyKana: 'しおみ', givenKana: 'ふゆこ', birth: '1944-12-03', address: '北海道苫小牧市汐見町9丁目9-9' };
    const fill = async (page, localId) => {
      await page.goto(`${server.baseUrl}/patients/new`);
      await page.fill('#local_id', localId);
      await page.fill('#family_kanji', P2.family);
      await page.fill('#given_kanji', P2.given);
      await page.fill('#family_kana', P2.familyKana);
      await page.fill('#given_kana', P2.givenKana);
      await page.fill('#birth_date', P2.birth);
      await page.selectOption('#sex', 'female');
      await page.fill('#address', P2.address);
      const res = await submit(page, 'form[action="/patients/new"] button[type=submit]');
      assert.equal(res.status(), 200);
      return pathOf(page);
    };
    const cmPage = await as('caremanager');
    const first = await fill(cmPage, 'CM-0002');
    assert.equal(await notice(cmPage), '患者を登録しました（新規）。');
    const doc = await as('hospital.doctor');
    const second = await fill(doc, P2.localId);
    assert.equal(await notice(doc), '患者を登録し、ネットワーク上の同一患者と自動で紐付けました。');
    assert.equal(second, first, 'both registrations belong to one person');
    // The hospital opens the patient (its own registration) …
    assert.ok((await text(doc, 'section.identity')).includes(P2.localId));
    // … and must find it in its own list by kana.
    const rows = await searchPatients(doc, 'しおみ');
    assert.deepEqual(rows.map((r) => r.href), [second], `GET /patients?q=しおみ as hospital.doctor: ${JSON.stringify(rows)}`);
  });
});
