// Flow: documents between facilities. hospital.doctor registers a synthetic patient,
// records consent and invites the care manager's office, which accepts. The care manager
// drafts a 入院時情報提供書 (admission date today, due in 3 days), saves it, then sends it to
// the hospital; hospital.doctor finds it under 文書 (received, not yet confirmed), reads it
// and confirms receipt; the care manager sees who confirmed it and when. The PDF is
// downloaded in the browser session and its text read with poppler's pdftotext. Then the
// hospital sends a 診療情報提供書 to the care manager, who downloads it as a JP-CLINS
// eReferral FHIR document Bundle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, explainRefusal, stepper } from './browser.mjs';

let server;
let browser;
const pages = {};

const PATIENT = {
  localId: 'E2E-D001',
  familyKanji: '汐見',
  givenKanji: '秋子',
  familyKana: 'しおみ',
  givenKana: 'あきこ',
  birthDate: '1936-10-03',
  sex: 'female',
  postalCode: '053-0022',
  address: '北海道苫小牧市表町5丁目6-7',
  phone: '0144-99-0003',
  careLevel: 'care3',
};
const FULL_NAME = `${PATIENT.familyKanji} ${PATIENT.givenKanji}`;
const ADL = '屋内は歩行器で移動。食事は自立、入浴は一部介助。';
const REFERRAL_PURPOSE = '退院後の在宅療養について引き続きご支援をお願いします。';

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

async function text(page, selector) {
  return (await page.textContent(selector)).replace(/\s+/g, ' ').trim();
}

async function notice(page) {
  return text(page, 'main > .alert.ok[role=status]');
}

function todayJst() {
  return new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);
}

test('documents: draft, send, receipt and PDF of a 入院時情報提供書', { timeout: 180_000 }, async (t) => {
  const step = stepper(t);
  const cm = server.logins.caremanager;
  const hospital = server.logins['hospital.doctor'];
  assert.ok(cm && hospital, `demo logins: ${Object.keys(server.logins)}`);
  let personId;
  let documentPath;
  let referralPath;

  await step('hospital.doctor registers the patient, records consent and invites the care manager', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(`${server.baseUrl}/patients/new`);
    for (const [id, v] of Object.entries({
      local_id: PATIENT.localId, family_kanji: PATIENT.familyKanji, given_kanji: PATIENT.givenKanji,
      family_kana: PATIENT.familyKana, given_kana: PATIENT.givenKana, birth_date: PATIENT.birthDate,
      postal_code: PATIENT.postalCode, address: PATIENT.address, phone: PATIENT.phone,
    })) {
      await doc.fill(`#${id}`, v);
    }
    await doc.selectOption('#sex', PATIENT.sex);
    await doc.selectOption('#care_level', PATIENT.careLevel);
    await submit(doc, 'form[action="/patients/new"] button[type=submit]');
    personId = /^\/patients\/([^/]+)$/.exec(pathOf(doc))[1];
    await Promise.all([doc.waitForNavigation(), doc.click(`section.identity a[href="/patients/${personId}/consent"]`)]);
    await doc.check('input[name=form][value=written]');
    await doc.check('input[name=signer][value=patient]');
    await submit(doc, `form[action="/patients/${personId}/consent"] button[type=submit]`);
    // The care manager's facility ID from the directory.
    await doc.goto(`${server.baseUrl}/facilities?q=${encodeURIComponent(cm.facility)}`);
    await Promise.all([doc.waitForNavigation(), doc.click(`table tbody tr td a:text-is("${cm.facility}")`)]);
    const code = await text(doc, 'dl.facts dd.code >> nth=0');
    await doc.goto(`${server.baseUrl}/patients/${personId}`);
    await doc.fill('#facility', code);
    await submit(doc, `form[action="/patients/${personId}/team/invite"] button[type=submit]`);
    assert.equal(await notice(doc), '施設を招待しました。');
  });

  await step('caremanager accepts the invitation', async () => {
    const page = await as('caremanager');
    await page.goto(`${server.baseUrl}/invitations`);
    const card = page.locator('.card.invitation', { hasText: FULL_NAME });
    const [res] = await Promise.all([page.waitForNavigation(), card.locator('button:text-is("参加する")').click()]);
    await explainRefusal(res);
    assert.equal(pathOf(page), `/patients/${personId}`);
  });

  await step('caremanager drafts a 入院時情報提供書 and saves it', async () => {
    const page = await as('caremanager');
    await page.goto(`${server.baseUrl}/patients/${personId}/record`);
    await Promise.all([page.waitForNavigation(), page.click('#documents-link')]);
    assert.equal(pathOf(page), `/patients/${personId}/documents`);
    await page.selectOption('#doc-kind', 'admission-info');
    await submit(page, '#new-document button[type=submit]');
    documentPath = pathOf(page);
    assert.match(documentPath, new RegExp(`^/patients/${personId}/documents/[^/]+$`));
    assert.equal(await notice(page), '下書きを作成しました。');
    assert.ok((await text(page, '#document-title')).startsWith('入院時情報提供書'));
    await page.fill('#f-admission_date', todayJst());
    await page.fill('#f-care_level', '要介護3');
    await page.fill('#f-adl', ADL);
    await page.fill('#f-wishes', '自宅での生活を続けたい');
    await submit(page, '#save-draft');
    assert.equal(await notice(page), '下書きを保存しました。');
    assert.equal(await page.inputValue('#f-adl'), ADL);
    // Due in three days, on the care manager's due list.
    await page.goto(`${server.baseUrl}/documents`);
    const due = await text(page, '#due');
    assert.ok(due.includes(FULL_NAME) && due.includes('期限まであと3日'), due);
    await screenshot(page, 'documents-due');
  });

  await step('caremanager sends it to the hospital', async () => {
    const page = await as('caremanager');
    await page.goto(`${server.baseUrl}${documentPath}`);
    await page.check(`#recipients label:has-text("${hospital.facility}") input`);
    await screenshot(page, 'documents-draft');
    await submit(page, '#send');
    assert.equal(await notice(page), '文書を送付しました。');
    assert.ok((await text(page, '#document-title')).includes('送付済み'));
    const deliveries = await text(page, '#deliveries');
    assert.ok(deliveries.includes(hospital.facility) && deliveries.includes('未確認'), deliveries);
    assert.equal(await page.locator('#document-form').count(), 0, 'no more editing once sent');
  });

  await step('hospital.doctor finds it among received documents and confirms receipt', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(`${server.baseUrl}/documents`);
    const row = doc.locator('#received tbody tr', { hasText: FULL_NAME });
    assert.ok((await row.textContent()).includes('未確認'));
    await Promise.all([doc.waitForNavigation(), row.locator('a').click()]);
    assert.equal(pathOf(doc), documentPath);
    assert.ok((await text(doc, '#document-fields')).includes(ADL));
    await submit(doc, '#confirm-receipt');
    assert.equal(await notice(doc), '受領を確認しました。');
    const deliveries = await text(doc, '#deliveries');
    assert.ok(deliveries.includes('受領確認済み') && deliveries.includes(hospital.name), deliveries);
    await screenshot(doc, 'documents-received');
  });

  await step('the PDF downloads as an attachment and carries the form text', async () => {
    const doc = await as('hospital.doctor');
    const href = await doc.getAttribute('#pdf-link', 'href');
    const res = await doc.request.get(`${server.baseUrl}${href}`);
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['content-type'], 'application/pdf');
    assert.match(res.headers()['content-disposition'], /^attachment;/);
    const pdf = await res.body();
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    const pdfText = execFileSync('pdftotext', ['-layout', '-', '-'], { input: pdf }).toString();
    for (const want of ['入院時情報提供書', FULL_NAME, cm.facility, hospital.facility, ADL, '自宅での生活を続けたい']) {
      assert.ok(pdfText.includes(want), `${want} missing from the PDF text:\n${pdfText}`);
    }
  });

  await step('hospital.doctor writes a 診療情報提供書 and sends it to the care manager', async () => {
    const doc = await as('hospital.doctor');
    await doc.goto(`${server.baseUrl}/patients/${personId}/documents`);
    await doc.selectOption('#doc-kind', 'referral');
    await submit(doc, '#new-document button[type=submit]');
    referralPath = pathOf(doc);
    await doc.fill('#f-purpose', REFERRAL_PURPOSE);
    await doc.fill('#f-diagnosis', '慢性心不全');
    await doc.check(`#recipients label:has-text("${cm.facility}") input`);
    await submit(doc, '#send');
    assert.equal(await notice(doc), '文書を送付しました。');
  });

  await step('caremanager downloads it as a JP-CLINS eReferral FHIR document', async () => {
    const page = await as('caremanager');
    await page.goto(`${server.baseUrl}${referralPath}`);
    const href = await page.getAttribute('#bundle-link', 'href');
    const res = await page.request.get(`${server.baseUrl}${href}`);
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['content-type'], 'application/fhir+json');
    const bundle = await res.json();
    assert.equal(bundle.type, 'document');
    assert.deepEqual(bundle.meta.profile, ['http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral|1']);
    const composition = bundle.entry[0].resource;
    assert.equal(composition.type.coding[0].code, '57133-1');
    const codes = composition.section.map((s) => s.code.coding[0].code);
    assert.deepEqual(codes.slice(0, 3), ['910', '920', '300']);
    const purpose = composition.section[2].section.find((s) => s.code.coding[0].code === '950');
    assert.ok(purpose.text.div.includes(REFERRAL_PURPOSE), purpose.text.div);
    const addressed = bundle.entry.find((e) => e.fullUrl === composition.section[0].entry[0].reference);
    assert.equal(addressed.resource.name, cm.facility);
  });
});
