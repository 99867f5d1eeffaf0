// Flow 2: a clinic applies to join, the secretariat approves it, the new facility
// administrator sets up the account (password + authenticator) from the one-time link,
// signs in with TOTP and invites a staff member.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, signIn, signOut, stepper, explainRefusal } from './browser.mjs';
import { totp, stepAt, waitForNextStep } from './totp.mjs';

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

const run = randomInt(10_000, 99_999);
const clinic = {
  facility_type: 'clinic',
  legal_entity: `医療法人 E2E会${run}`,
  name: `E2Eさくら台クリニック${run}`,
  name_kana: 'いーつーいーさくらだいくりにっく', // hiragana: stored as katakana
  official_id: `01${String(randomInt(0, 1e8)).padStart(8, '0')}`,
  postal_code: '0530021',
  address: '北海道苫小牧市若草町1丁目2-3',
  area: '若草町',
  tel: '0144-12-3456',
  email: `clinic${run}@example.jp`,
  applicant_name: '申請 太郎',
  applicant_email: `applicant${run}@example.jp`,
  admin_name: '管理 花子',
  admin_login_id: `e2e.admin${run}`,
  admin_email: `admin${run}@example.jp`,
};
const professions = ['physician', 'nurse'];
const adminPassword = 'Wakakusa-clinic 2026!';

async function submitForm(page, selector) {
  const [res] = await Promise.all([page.waitForNavigation(), page.click(`${selector} button[type=submit]`)]);
  await explainRefusal(res);
  return res;
}

async function fillApplication(page, values, checks) {
  await page.selectOption('#facility_type', values.facility_type);
  for (const [k, v] of Object.entries(values)) {
    if (k !== 'facility_type') await page.fill(`#${k}`, v);
  }
  for (const code of checks) await page.check(`input[name=professions][value=${code}]`);
}

test('apply → approve → set up → sign in → invite', async (t) => {
  const step = stepper(t);
  let setupPath;
  let setupOrigin;
  let secret;

  await step('a wrong application shows every problem and keeps what was typed', async () => {
    const { context, page } = await newPage(browser, { baseUrl: server.baseUrl });
    await page.goto(`${server.baseUrl}/apply`);
    assert.equal((await page.textContent('h1')).trim(), 'ネットワーク参加（入会）申請');
    await fillApplication(page, { ...clinic, name_kana: '', tel: '12-34' }, professions);
    const res = await submitForm(page, 'form[action="/apply"]');
    assert.equal(res.status(), 422);
    const errors = await page.$$eval('.alert li.error', (lis) => lis.map((li) => li.textContent.trim()));
    assert.deepEqual(errors.sort(), [
      '施設名（ふりがな）: 入力してください',
      '電話番号: 電話番号は10〜11桁の数字（ハイフン可）で入力してください',
    ].sort());
    assert.equal(await page.inputValue('#name'), clinic.name);
    assert.equal(await page.inputValue('#address'), clinic.address);
    assert.equal(await page.inputValue('#official_id'), clinic.official_id);
    assert.equal(await page.inputValue('#tel'), '12-34', 'the wrong value stays for correction');
    assert.equal(await page.inputValue('#facility_type'), 'clinic');
    for (const code of professions) assert.ok(await page.isChecked(`input[name=professions][value=${code}]`), code);
    assert.equal(await page.isChecked('input[name=professions][value=dentist]'), false);
    await screenshot(page, 'flow2-apply-errors');

    // Correct the two fields and send it again.
    await page.fill('#name_kana', clinic.name_kana);
    await page.fill('#tel', clinic.tel);
    const ok = await submitForm(page, 'form[action="/apply"]');
    assert.equal(ok.status(), 200);
    assert.equal((await page.textContent('h1')).trim(), '申請を受け付けました');
    assert.ok((await page.textContent('main')).includes(clinic.name));
    await context.close();
  });

  await step('the secretariat approves it and gets a setup link', async () => {
    const { context, page } = await newPage(browser, { baseUrl: server.baseUrl });
    await signIn(page, server.baseUrl, 'secretariat', DEMO_PASSWORD, DEMO_TOTP_SECRET);
    const pending = Number((await page.textContent('#pending-count')).trim());
    assert.ok(pending >= 1, `pending applications on home: ${pending}`);
    await page.click('a[href="/admin/applications"] >> nth=0');
    await page.waitForURL(/\/admin\/applications$/);
    const card = page.locator('.card.application', { hasText: clinic.name });
    assert.equal(await card.count(), 1, 'our application is listed once');
    const text = await card.textContent();
    assert.ok(text.includes('イーツーイーサクラダイクリニック'), 'kana reading stored in katakana');
    assert.ok(text.includes(clinic.official_id));
    assert.ok(text.includes(clinic.admin_login_id));
    assert.ok(text.includes('〒053-0021'), 'postal code normalised');
    await Promise.all([page.waitForNavigation(), card.locator('form[action$="/approve"] button').click()]);
    const h1 = (await page.textContent('h1')).trim();
    assert.ok(h1.startsWith(clinic.name) && h1.includes('施設ID'), `approval heading: ${h1}`);
    const link = (await page.textContent('#setup-link')).trim();
    const m = /^(https?:\/\/[^/]+)(\/setup\/[A-Za-z0-9_-]{20,})$/.exec(link);
    assert.ok(m, `setup link looks like a link: ${link}`);
    [setupOrigin, setupPath] = [m[1], m[2]];
    t.diagnostic(`setup link host: ${m[1]} (server listens on ${server.baseUrl})`);
    await screenshot(page, 'flow2-approved-setup-link');

    // The application left the queue, and the clinic is now in the directory.
    await page.goto(`${server.baseUrl}/admin/applications`);
    assert.equal(await page.locator('.card.application', { hasText: clinic.name }).count(), 0);
    await page.goto(`${server.baseUrl}/facilities?q=${encodeURIComponent(clinic.name)}`);
    assert.equal((await page.textContent('#result-count strong')).trim(), '1');
    await signOut(page);
    await context.close();
  });

  // With --http-addr 127.0.0.1:0 and no public_url, links must name the bound port.
  await step('the setup link points at the listening server', async () => {
    assert.equal(setupOrigin, server.baseUrl);
  });

  await step('the new administrator sets a password and registers TOTP', async () => {
    const { context, page } = await newPage(browser, { baseUrl: server.baseUrl });
    await page.goto(`${server.baseUrl}${setupPath}`);
    assert.equal((await page.textContent('h1')).trim(), 'アカウントの初期設定');
    assert.ok((await page.textContent('main')).includes(clinic.admin_login_id));
    secret = (await page.textContent('#totp-secret')).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 secret');
    assert.notEqual(secret, DEMO_TOTP_SECRET);
    const qr = await page.getAttribute('img.qr', 'src');
    assert.ok(qr.startsWith('data:image/svg+xml;base64,'), 'QR code rendered inline');

    // A wrong code is refused and the same secret is kept for the retry.
    await page.fill('#password', adminPassword);
    await page.fill('#password_confirm', adminPassword);
    const wrong = String((Number(totp(secret)) + 1) % 1e6).padStart(6, '0');
    await page.fill('#code', wrong);
    const bad = await submitForm(page, `form[action="${setupPath}"]`);
    assert.equal(bad.status(), 422);
    assert.ok((await page.textContent('.error')).includes('認証アプリのコードが確認できませんでした'));
    assert.equal((await page.textContent('#totp-secret')).trim(), secret);

    await page.fill('#password', adminPassword);
    await page.fill('#password_confirm', adminPassword);
    await page.fill('#code', totp(secret));
    const res = await submitForm(page, `form[action="${setupPath}"]`);
    assert.equal(res.status(), 200);
    assert.equal((await page.textContent('h1')).trim(), '設定が完了しました');
    const codes = await page.$$eval('#recovery-codes li', (lis) => lis.map((li) => li.textContent.trim()));
    assert.equal(codes.length, 10, `recovery codes: ${codes}`);
    assert.equal(new Set(codes).size, 10, 'recovery codes are distinct');
    for (const c of codes) assert.match(c, /[A-Za-z]/, 'recovery codes contain letters (told apart from TOTP codes)');
    await screenshot(page, 'flow2-recovery-codes');

    // The link is single-use.
    const again = await page.goto(`${server.baseUrl}${setupPath}`);
    assert.equal(again.status(), 404, 'a used setup link is gone');
    await context.close();
  });

  await step('the administrator signs in with password + TOTP and sees staff management', async () => {
    // Enrolment used this step's code; a sign-in needs the next one.
    await waitForNextStep();
    const { context, page } = await newPage(browser, { baseUrl: server.baseUrl });
    await signIn(page, server.baseUrl, clinic.admin_login_id, adminPassword, secret);
    assert.ok((await page.textContent('h1')).includes(clinic.admin_name));
    const staffLink = page.locator('header nav a[href="/facility/staff"]');
    assert.equal((await staffLink.textContent()).trim(), '職員管理');
    assert.ok((await page.textContent('header .who')).includes(clinic.name), 'acting for the new clinic');

    await staffLink.click();
    await page.waitForURL(/\/facility\/staff$/);
    assert.ok((await page.textContent('h1')).includes(clinic.name));
    const invitee = { login: `e2e.nurse${run}`, name: '訪問 看子', kana: 'ほうもん みるこ' };
    await page.fill('#display_name', invitee.name);
    await page.fill('#display_name_kana', invitee.kana);
    await page.fill('#login_id', invitee.login);
    await page.fill('#email', `nurse${run}@example.jp`);
    await page.selectOption('#profession', 'nurse');
    await page.selectOption('#role', 'member');
    const res = await submitForm(page, 'form[action="/facility/staff"]');
    assert.equal(res.status(), 200);
    const link = (await page.textContent('#setup-link')).trim();
    assert.match(link, /\/setup\/[A-Za-z0-9_-]{20,}$/);
    assert.ok((await page.textContent('main')).includes(invitee.login));
    await screenshot(page, 'flow2-staff-invited');

    await page.goto(`${server.baseUrl}/facility/staff`);
    const row = page.locator('#staff-table tbody tr', { hasText: invitee.login });
    assert.equal(await row.count(), 1);
    assert.ok((await row.textContent()).includes('初期設定待ち'), 'the invitee awaits setup');
    await context.close();
  });
});
