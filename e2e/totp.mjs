// RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30-second steps) and RFC 4648 base32, with node:crypto only.
import { createHmac } from 'node:crypto';

export const STEP_SECONDS = 30;

export function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = input.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, '0');
}

export const stepAt = (ms = Date.now()) => Math.floor(ms / 1000 / STEP_SECONDS);

/** The code for `secret` (base32) at time `ms` (default now). */
export function totp(secret, ms = Date.now()) {
  return hotp(base32Decode(secret), stepAt(ms));
}

/** Sleeps until the next 30-second step starts (plus a small margin). */
export async function waitForNextStep(marginMs = 250) {
  const now = Date.now();
  const next = (stepAt(now) + 1) * STEP_SECONDS * 1000;
  await new Promise((r) => setTimeout(r, next - now + marginMs));
}

/**
 * Returns a code with at least `minMs` left in its step, waiting for the next step when the
 * current one is about to end (so a code is not typed just as it expires).
 */
export async function freshCode(secret, minMs = 3000) {
  const now = Date.now();
  const left = (stepAt(now) + 1) * STEP_SECONDS * 1000 - now;
  if (left < minMs) await waitForNextStep();
  return { code: totp(secret), step: stepAt() };
}
