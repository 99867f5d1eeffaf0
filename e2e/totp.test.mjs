// The TOTP helper itself, against the RFC 6238 (SHA-1) test vectors, so the browser tests
// can trust the codes it computes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode, hotp, totp } from './totp.mjs';

test('RFC 6238 SHA-1 vectors', () => {
  const key = Buffer.from('12345678901234567890');
  for (const [t, code] of [[59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'],
    [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130']]) {
    assert.equal(hotp(key, Math.floor(t / 30), 8), code, `t=${t}`);
  }
});

test('base32 decoding and 6-digit codes', () => {
  assert.equal(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').toString(), '12345678901234567890');
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
  assert.throws(() => base32Decode('A1'));
});
