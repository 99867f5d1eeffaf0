// Flow: the patient record. hospital.doctor registers a synthetic patient and opens the
// record from the patient page; an implausible vital sign (SpO2 140 %) is refused with the
// form kept; two sets of vital signs are recorded and appear in the table (newest first,
// with the recording facility) and as server-drawn SVG trend charts; a small PNG is attached
// and listed, and its download returns the same bytes; an ACP/DNAR discussion is refused
// once (future date, no participants), then recorded and shown on the emergency summary.
// clinic.doctor, whose facility is not in the care team, gets 404 for the record and for
// the attachment.
//
// Two users, each signs in exactly once in its own browser context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, explainRefusal, stepper } from './browser.mjs';

let server;
let browser;
const pages = {}; // login id → page, one browser context each

const PATIENT = {
  localId: 'E2E-R001',
  familyKanji: '浜風',
  givenKanji: '夏子',
  familyKana: 'はまかぜ',
  givenKana: 'なつこ',
  katakana: 'ハマカゼ ナツコ',
  birthDate: '1941-07-08',
  sex: 'female',
  postalCode: '053-0022',
  address: '北海道苫小牧市表町9丁目8-7 記録荘202',
  phone: '0144-99-0002',
  careLevel: 'care1',
};
const FULL_NAME = `${PATIENT.familyKanji} ${PATIENT.givenKanji}`;
const ATTACHMENT_TITLE = '褥瘡の写真（仙骨部）';
// A valid 1×1 PNG (one black pixel; CRCs correct): a real image by content.
const PNG = Buffer.from(
  [
    '89504e470d0a1a0a', // signature
    '0000000d' + '49484452' + '0000000100000001' + '0800000000' + '3a7e9b55', // IHDR 1×1, 8-bit grey
    '0000000a' + '49444154' + '789c6360000000020001' + '48afa471', // IDAT
    '00000000' + '49454e44' + 'ae426082', // IEND
  ].join(''),
  'hex',
);

let recordUrl; // set once the patient is registered
let documentUrl; // set once the attachment is stored

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

async function text(page, selector) {
  return (await page.textContent(selector)).replace(/\s+/g, ' ').trim();
}

async function notice(page) {
  return text(page, 'main > .alert.ok[role=status]');
}

/** `YYYY-MM-DDTHH:MM` in Japan, `minutes` from now (what a datetime-local input holds). */
function jstLocal(minutes) {
  return new Date(Date.now() + minutes * 60_000 + 9 * 3600_000).toISOString().slice(0, 16);
}

/** The vitals table: header columns and, per row, the label, the cells and the source. */
async function vitalsTable(page) {
  return page.$eval('#vitals-table', (table) => ({
    columns: [...table.querySelectorAll('thead th.when')].map((th) => th.textContent.trim()),
    rows: [...table.querySelectorAll('tbody tr')].map((tr) => ({
      label: tr.querySelector('th').textContent.replace(/\s+/g, ' ').trim(),
      cells: [...tr.querySelectorAll('td.value')].map((td) => td.textContent.replace(/\s+/g, ' ').trim()),
      source: tr.querySelector('td.source').textContent.trim(),
    })),
  }));
}

/** Opens the vitals form, fills it and submits; returns the response. */
async function recordVitals(page, at, values) {
  const form = page.locator('#vitals-form');
  if (!(await form.evaluate((d) => d.open))) await form.locator('summary').click();
  await page.fill('#at', at);
  for (const id of ['systolic', 'diastolic', 'pulse', 'spo2', 'temperature', 'weight', 'respiratory_rate']) {
    await page.fill(`#${id}`, values[id] ?? '');
  }
  return submit(page, `#vitals-form button[type=submit]`);
}

test('record: vital signs with trend charts, an attachment, and no access for outsiders', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  const hospital = server.logins['hospital.doctor'];
  const clinic = server.logins['clinic.doctor'];
  for (const [id, l] of Object.entries({ 'hospital.doctor': hospital, 'clinic.doctor': clinic })) {
    assert.ok(l, `the demo banner should list ${id} (got ${Object.keys(server.logins)})`);
  }
  const first = jstLocal(-120);
  const second = jstLocal(-30);

  await step('hospital.doctor registers a patient and opens the (empty) record from the patient page', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(`${server.baseUrl}/patients/new`);
    await doc.fill('#local_id', PATIENT.localId);
    await doc.fill('#family_kanji', PATIENT.familyKanji);
    await doc.fill('#given_kanji', PATIENT.givenKanji);
    await doc.fill('#family_kana', PATIENT.familyKana);
    await doc.fill('#given_kana', PATIENT.givenKana);
    await doc.fill('#birth_date', PATIENT.birthDate);
    await doc.selectOption('#sex', PATIENT.sex);
    await doc.fill('#postal_code', PATIENT.postalCode);
    await doc.fill('#address', PATIENT.address);
    await doc.fill('#phone', PATIENT.phone);
    await doc.selectOption('#care_level', PATIENT.careLevel);
    const res = await submit(doc, 'form[action="/patients/new"] button[type=submit]');
    assert.equal(res.status(), 200);
    const m = /^\/patients\/([^/]+)$/.exec(pathOf(doc));
    assert.ok(m, `registration should land on the patient page, not ${doc.url()}`);
    const personId = m[1];
    recordUrl = `${server.baseUrl}/patients/${personId}/record`;

    await Promise.all([doc.waitForNavigation(), doc.click(`section.identity a[href="/patients/${personId}/record"]`)]);
    assert.equal(pathOf(doc), `/patients/${personId}/record`);
    assert.equal(await text(doc, 'h1#patient-name'), `${FULL_NAME} ${PATIENT.katakana}`);
    const ids = await text(doc, 'section.identity p.ids');
    assert.ok(ids.includes(hospital.facility) && ids.includes(PATIENT.localId), `local ID chip: ${ids}`);
    assert.equal(await text(doc, '#vitals > p.muted'), '記録はありません。');
    assert.equal(await doc.locator('#vitals-table').count(), 0);
    // The forms are folded away until opened.
    assert.equal(await doc.locator('#vitals-form').evaluate((d) => d.open), false);
  });

  await step('an implausible SpO2 is refused: 400, the message, the values kept, nothing stored', async () => {
    const doc = await as('hospital.doctor');
    const res = await recordVitals(doc, first, { pulse: '72', spo2: '140' });
    assert.equal(res.status(), 400);
    assert.equal(await doc.locator('#vitals-form').evaluate((d) => d.open), true, 'the form is open again');
    const errors = await doc.$$eval('#vitals-form li.error', (lis) => lis.map((li) => li.textContent.trim()));
    assert.deepEqual(errors, ['SpO2：50〜100%の範囲で入力してください。']);
    assert.equal(await doc.inputValue('#spo2'), '140');
    assert.equal(await doc.inputValue('#pulse'), '72');
    assert.equal(await doc.inputValue('#at'), first);
    assert.equal(await doc.locator('#vitals-table').count(), 0, 'nothing was stored');
    await screenshot(doc, 'record-vitals-error');
  });

  await step('two sets of vital signs appear in the table, newest first, with the facility', async () => {
    const doc = await as('hospital.doctor');
    let res = await recordVitals(doc, first, { systolic: '128', diastolic: '76', pulse: '72', spo2: '97', temperature: '36.8' });
    assert.equal(res.status(), 200);
    assert.equal(pathOf(doc), new URL(recordUrl).pathname);
    assert.equal(await notice(doc), '記録しました。');
    await doc.goto(recordUrl);
    res = await recordVitals(doc, second, { systolic: '136', diastolic: '82', pulse: '80', spo2: '96', temperature: '37.1' });
    assert.equal(res.status(), 200);
    assert.equal(await notice(doc), '記録しました。');

    const table = await vitalsTable(doc);
    assert.deepEqual(table.columns, [second.replace('T', ' '), first.replace('T', ' ')], 'newest first');
    const byLabel = Object.fromEntries(table.rows.map((r) => [r.label, r]));
    assert.deepEqual(Object.keys(byLabel), ['血圧 mmHg', '脈拍 /min', 'SpO2 %', '体温 °C'], 'in the order of the form');
    assert.deepEqual(byLabel['血圧 mmHg'].cells, ['136/82', '128/76']);
    assert.deepEqual(byLabel['脈拍 /min'].cells, ['80', '72']);
    assert.deepEqual(byLabel['SpO2 %'].cells, ['96', '97']);
    assert.deepEqual(byLabel['体温 °C'].cells, ['37.1', '36.8']);
    for (const r of table.rows) assert.equal(r.source, hospital.facility, `source of ${r.label}`);
    assert.equal(await text(doc, 'nav.record-summary a[href="#vitals"] .stat'), '8', 'four measurements, twice');
  });

  await step('the trend charts are inline SVG, one line per series, drawn inside the box', async () => {
    const doc = await as('hospital.doctor');
    const charts = await doc.$$eval('#vitals figure.chart', (figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg.trend');
        const box = svg.getBoundingClientRect();
        return {
          title: f.querySelector('figcaption strong').textContent.trim(),
          aria: svg.getAttribute('aria-label'),
          lines: svg.querySelectorAll('polyline').length,
          points: [...svg.querySelectorAll('circle')].map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]),
          width: box.width,
          height: box.height,
        };
      }),
    );
    assert.deepEqual(charts.map((c) => c.title), ['血圧', '脈拍', 'SpO2', '体温']);
    const bp = charts[0];
    assert.equal(bp.lines, 2, 'systolic and diastolic');
    assert.equal(bp.points.length, 4);
    const day = (s) => s.slice(0, 10);
    assert.equal(bp.aria, `血圧（mmHg）: ${day(first)} – ${day(second)}`);
    for (const c of charts) {
      assert.ok(c.width > 100 && c.height > 40, `${c.title} chart is laid out (${c.width}×${c.height})`);
      for (const [x, y] of c.points) assert.ok(x >= 0 && x <= 360 && y >= 0 && y <= 160, `${c.title} point ${x},${y} inside the viewBox`);
    }
    // Later points are further right; the higher systolic value is drawn higher up.
    const [sys] = await doc.$$eval('#vitals figure.chart:first-of-type polyline', (ls) => ls.map((l) => l.getAttribute('points')));
    const pts = sys.split(' ').map((p) => p.split(',').map(Number));
    assert.ok(pts[1][0] > pts[0][0] && pts[1][1] < pts[0][1], `systolic 128 → 136 rises: ${sys}`);
    await doc.locator('#vitals').scrollIntoViewIfNeeded();
    await screenshot(doc, 'record-vitals-charts');
  });

  await step('a PNG attachment is stored, listed with the facility, and downloads byte for byte', async () => {
    const doc = await as('hospital.doctor');
    await doc.locator('#upload-form summary').click();
    await doc.fill('#utitle', ATTACHMENT_TITLE);
    await doc.setInputFiles('#ufile', { name: 'IMG_0420.png', mimeType: 'image/png', buffer: PNG });
    const res = await submit(doc, '#upload-form button[type=submit]');
    assert.equal(res.status(), 200);
    assert.equal(await notice(doc), '記録しました。');
    const items = doc.locator('#documents li.doc');
    assert.equal(await items.count(), 1);
    const item = (await items.first().textContent()).replace(/\s+/g, ' ');
    // Stored text is NFKC-normalised: the full-width parentheses come back half-width.
    for (const want of [ATTACHMENT_TITLE.normalize('NFKC'), '画像', hospital.facility, `${PNG.length} B`]) {
      assert.ok(item.includes(want), `document item ${JSON.stringify(item)} should include ${want}`);
    }
    const link = items.first().locator('a:text-is("開く・ダウンロード")');
    documentUrl = new URL(await link.getAttribute('href'), server.baseUrl).href;
    const got = await doc.request.get(documentUrl);
    assert.equal(got.status(), 200);
    assert.equal(got.headers()['content-type'], 'image/png');
    assert.ok(Buffer.from(await got.body()).equals(PNG), 'the same bytes come back');
    await items.first().scrollIntoViewIfNeeded();
    await screenshot(doc, 'record-attachment');
  });

  await step('ACP/DNAR: a discussion is recorded from the record page and heads the emergency summary', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(recordUrl);
    const personPath = new URL(recordUrl).pathname.replace(/\/record$/, '');
    await Promise.all([doc.waitForNavigation(), doc.click(`section.identity a[href="${personPath}/acp"]`)]);
    assert.equal(pathOf(doc), `${personPath}/acp`);
    assert.equal(await text(doc, '#acp-none'), 'ACP・DNARの記録はありません。');
    // No participants and a discussion tomorrow: refused, the choices kept.
    await doc.check('input[name=cpr][value=declined]');
    await doc.check('input[name=ventilation][value=declined]');
    await doc.check('input[name=hospital][value=wanted]');
    await doc.fill('#acp-wishes', '住み慣れた自宅で最期まで過ごしたい。');
    await doc.selectOption('#acp-place', 'home');
    const tomorrow = new Date(Date.now() + 9 * 3600_000 + 86_400_000).toISOString().slice(0, 10);
    const today = new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);
    await doc.fill('#acp-discussed', tomorrow);
    await doc.locator('#acp-participants').evaluate((i) => i.removeAttribute('required'));
    let res = await submit(doc, '#acp-form button[type=submit]');
    assert.equal(res.status(), 400);
    const errors = await doc.$$eval('#acp-form li.error', (lis) => lis.map((li) => li.textContent.trim()));
    assert.ok(errors.some((e) => e.includes('話し合いの日')), `errors: ${errors}`);
    assert.ok(errors.some((e) => e.includes('参加者')), `errors: ${errors}`);
    assert.equal(await doc.isChecked('input[name=cpr][value=declined]'), true, 'the choices are kept');
    assert.equal(await doc.locator('#acp-current .acp-record').count(), 0, 'nothing stored');

    await doc.fill('#acp-discussed', today);
    await doc.fill('#acp-participants', '本人、長女、主治医、訪問看護師');
    res = await submit(doc, '#acp-form button[type=submit]');
    assert.equal(res.status(), 200);
    assert.equal(await notice(doc), 'ACP・DNARの記録を保存しました。');
    const current = await text(doc, '#acp-current');
    for (const want of ['DNAR', '希望しない（DNAR）', '住み慣れた自宅で最期まで過ごしたい。', hospital.facility, '次回見直し日']) {
      assert.ok(current.includes(want), `current ACP ${JSON.stringify(current)} should include ${want}`);
    }
    assert.ok(!current.includes('見直し期限'), 'the default review is half a year away: no due badge');
    await screenshot(doc, 'acp-recorded');

    await doc.goto(`${server.baseUrl}${personPath}/emergency`);
    const acp = await text(doc, '#acp');
    assert.ok(acp.includes('DNAR') && acp.includes(today) && acp.includes('記録者'), `summary ACP: ${acp}`);
    assert.ok(acp.includes('気管挿管・人工呼吸器') && acp.includes('救急搬送・入院'), acp);
    await screenshot(doc, 'acp-emergency-summary');
  });

  await step('clinic.doctor (not in the care team) gets 404 for the record and the attachment', async () => {
    const page = await as('clinic.doctor');
    const res = await page.goto(recordUrl);
    assert.equal(res.status(), 404);
    assert.equal(await text(page, 'h1'), 'ページが見つかりません');
    const body = await page.textContent('body');
    for (const leak of [PATIENT.familyKanji, PATIENT.givenKanji, 'ハマカゼ', PATIENT.birthDate, '褥瘡']) {
      assert.ok(!body.includes(leak), `the 404 page must not show ${leak}`);
    }
    const doc = await page.request.get(documentUrl);
    assert.equal(doc.status(), 404);
    assert.ok(!Buffer.from(await doc.body()).equals(PNG));
    await screenshot(page, 'record-outsider-404');
  });
});
