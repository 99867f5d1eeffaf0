// Flow 3: security behaviours seen from a browser — generic password error, TOTP replay
// refused, no access after sign-out, failures in the audit trail — and the same-origin
// check on form POSTs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEMO_PASSWORD, DEMO_TOTP_SECRET } from './server.mjs';
import { launchBrowser, newPage, screenshot, pathOf, submitPassword, submitCode, signIn, signOut, stepper } from './browser.mjs';

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

const GENERIC = 'ログインIDまたはパスワードが正しくないか、アカウントが一時的にロックされています。';

test('a plain browser can submit a same-origin form', async () => {
  // Fails while pages carry `Referrer-Policy: no-referrer`: Chromium then sends
  // `Origin: null` on every form POST and the server refuses it as cross-origin.
  const { context, page } = await newPage(browser);
  await page.goto(`${server.baseUrl}/login`);
  await page.fill('#login_id', 'nobody.here');
  await page.fill('#password', 'not-the-password-1');
  const [res] = await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  const sent = await res.request().headerValue('origin');
  assert.notEqual(res.status(), 403,
    `same-origin login POST refused: Origin sent was ${JSON.stringify(sent)}, referrer-policy of /login was ` +
    `${JSON.stringify((await (await page.request.get(`${server.baseUrl}/login`)).headers())['referrer-policy'])}`);
  assert.equal(res.status(), 401);
  await context.close();
});

test('a cross-origin POST is refused', async () => {
  const { context, page } = await newPage(browser);
  const res = await page.request.post(`${server.baseUrl}/login`, {
    headers: { origin: 'https://evil.example' },
    form: { login_id: 'secretariat', password: DEMO_PASSWORD, csrf: 'x' },
    maxRedirects: 0,
  });
  assert.equal(res.status(), 403);
  assert.equal(await res.text(), 'cross-origin request refused');
  await context.close();
});

test('sign-in security behaviours', async (t) => {
  const step = stepper(t);
  const { page } = await newPage(browser, { baseUrl: server.baseUrl });

  await step('a wrong password and an unknown login get the same generic error', async () => {
    await submitPassword(page, server.baseUrl, 'hospital.nurse', 'wrong-password-123');
    assert.equal(pathOf(page), '/login');
    assert.equal((await page.textContent('.error')).trim(), GENERIC);
    assert.equal(await page.inputValue('#login_id'), 'hospital.nurse', 'login ID kept');
    assert.equal(await page.inputValue('#password'), '', 'password not echoed');
    await screenshot(page, 'flow3-wrong-password');
    await submitPassword(page, server.baseUrl, 'no.such.user', 'wrong-password-123');
    assert.equal((await page.textContent('.error')).trim(), GENERIC);
  });

  await step('a TOTP code cannot be used twice', async () => {
    const { code } = await signIn(page, server.baseUrl, 'clinic.doctor', DEMO_PASSWORD, DEMO_TOTP_SECRET);
    await signOut(page);
    await submitPassword(page, server.baseUrl, 'clinic.doctor', DEMO_PASSWORD);
    assert.equal(pathOf(page), '/login/second-factor');
    await submitCode(page, code);
    assert.equal(pathOf(page), '/login/second-factor', 'the replayed code must not sign in');
    assert.equal((await page.textContent('.error')).trim(),
      'このコードは使用済みです。次のコードが表示されるまでお待ちください。');
    await screenshot(page, 'flow3-totp-replayed');
    // Not signed in: home sends us back to the sign-in page.
    await page.goto(`${server.baseUrl}/`);
    assert.equal(pathOf(page), '/login');
  });

  await step('after signing out, / redirects to /login', async () => {
    await signIn(page, server.baseUrl, 'hospital.doctor', DEMO_PASSWORD, DEMO_TOTP_SECRET);
    const before = await page.context().cookies();
    await signOut(page);
    assert.ok((await page.textContent('main')).includes('ログアウトしました。'));
    const res = await page.goto(`${server.baseUrl}/`);
    assert.equal(pathOf(page), '/login');
    assert.equal(res.status(), 200);
    // The old session cookie is worthless even if replayed.
    const old = before.find((c) => /session/i.test(c.name));
    assert.ok(old, `a session cookie existed: ${before.map((c) => c.name)}`);
    const replay = await page.request.get(`${server.baseUrl}/`, {
      headers: { cookie: `${old.name}=${old.value}` },
      maxRedirects: 0,
    });
    assert.equal(replay.status(), 303);
    assert.match(replay.headers().location, /^\/login/);
  });

  await step('the audit trail lists the password failures', async () => {
    await signIn(page, server.baseUrl, 'secretariat', DEMO_PASSWORD, DEMO_TOTP_SECRET);
    await page.goto(`${server.baseUrl}/admin/audit?action=auth.login.password&outcome=failure`);
    assert.equal(pathOf(page), '/admin/audit');
    const rows = await page.$$eval('#audit-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
    const ours = rows.filter((r) => r[2] === 'auth.login.password' && r[3] === 'failure');
    assert.equal(ours.length, rows.length, 'the filter shows only password failures');
    const nurse = ours.find((r) => r[4] === 'hospital.nurse');
    assert.ok(nurse, `hospital.nurse's failure is listed: ${JSON.stringify(rows.slice(0, 5))}`);
    assert.ok(nurse[7].includes('bad_password'), `reason recorded: ${nurse[7]}`);
    assert.equal(nurse[6], '127.0.0.1', 'client address recorded');
    const unknown = ours.find((r) => r[4] === 'no.such.user');
    assert.ok(unknown && unknown[7].includes('unknown_login'), 'unknown login recorded');
    // The replayed code is recorded as a second-factor failure.
    await page.goto(`${server.baseUrl}/admin/audit?action=auth.login.second_factor&outcome=failure`);
    assert.ok((await page.textContent('#audit-table tbody')).includes('replayed'));
    await page.goto(`${server.baseUrl}/admin/audit?action=auth.login.password&outcome=failure`);
    await screenshot(page, 'flow3-audit-trail');
  });
});
