// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, plus sign-in helpers.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { REPO_ROOT } from './server.mjs';
import { totp, stepAt, freshCode } from './totp.mjs';

export const ARTIFACTS = path.join(REPO_ROOT, 'e2e', 'artifacts');
export const VIEWPORT = { width: 1024, height: 768 }; // a tablet in landscape

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    // Playwright gives every launch a fresh temporary profile and removes it on close().
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

export async function newPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
  context.setDefaultTimeout(5_000);
  const page = await context.newPage();
  return { context, page };
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

export const pathOf = (page) => new URL(page.url()).pathname;

/** Password stage: ends on the second-factor page. */
export async function submitPassword(page, baseUrl, loginId, password) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('#login_id', loginId);
  await page.fill('#password', password);
  const [res] = await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  await explainRefusal(res);
}

/** Second stage: types `code` and submits. */
export async function submitCode(page, code) {
  await page.fill('#code', code);
  const [res] = await Promise.all([
    page.waitForNavigation(),
    page.click('form[action="/login/second-factor"] button[type=submit]'),
  ]);
  await explainRefusal(res);
}

/**
 * Full sign-in with a code computed from `secret`. Returns the code and its step so a
 * caller can try to replay it.
 */
export async function signIn(page, baseUrl, loginId, password, secret) {
  await submitPassword(page, baseUrl, loginId, password);
  assert.equal(pathOf(page), '/login/second-factor', `password stage for ${loginId} should lead to the second factor`);
  const { code, step } = await freshCode(secret);
  await submitCode(page, code);
  if (pathOf(page) !== '/') {
    const error = await page.textContent('.error').catch(() => '(no error shown)');
    assert.fail(`second factor for ${loginId} should lead home, got ${page.url()}: ${error}`);
  }
  return { code, step };
}

/** Turns the server's bare 403 for a refused form POST into an explicit failure. */
export async function explainRefusal(res) {
  if (res && res.status() === 403) {
    const body = await res.text().catch(() => '');
    if (body.includes('cross-origin request refused')) {
      throw new Error(
        `the server refused a same-origin form POST to ${res.url()} as cross-origin (403 "${body}"); ` +
          'Chromium sends Origin: null because pages carry Referrer-Policy: no-referrer (see security.test.mjs)',
      );
    }
  }
}

export async function signOut(page) {
  await Promise.all([page.waitForNavigation(), page.click('form[action="/logout"] button[type=submit]')]);
  assert.equal(pathOf(page), '/login');
}

/** Search folding as the app documents it: NFKC, hiragana → katakana, lower case, no spaces. */
export function fold(s) {
  return s
    .normalize('NFKC')
    .replace(/[\u3041-\u3096]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0x60))
    .toLowerCase()
    .replace(/\s+/g, '');
}

export { totp, stepAt };

/**
 * Runs the steps of one flow as subtests; once a step fails, the later ones are skipped
 * (they depend on it) instead of each timing out.
 */
export function stepper(t) {
  let failed = null;
  return async (name, opts, fn) => {
    if (typeof opts === 'function') [opts, fn] = [{}, opts];
    return t.test(name, { ...opts, skip: failed ? `after failed step: ${failed}` : false }, async (st) => {
      try {
        await fn(st);
      } catch (e) {
        if (!opts.todo) failed = name;
        throw e;
      }
    });
  };
}
