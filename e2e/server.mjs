// Starts `renkei demo` on a random port with a fresh data directory and stops it again.
//
//   const server = await startServer();   // { baseUrl, logins, stdout, stop() }
//   ...
//   await server.stop();                  // SIGTERM, waits for exit, removes the data dir
//
// The binary is $RENKEI_BIN (default target/debug/renkei, relative to the repo root).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_PASSWORD = 'renkei-demo-2026';
export const DEMO_TOTP_SECRET = 'RENKEIDEMORENKEIDEMORENKEIDEMO22';

const READY = /^renkei ready on (https?:\/\/\S+) \((\w+) backend\) in (\d+) ms$/;
// "  hospital.doctor    菅原 和也 (医師, 苫小牧みなと総合病院)"
const FEATURED = /^ {2}(\S+)\s+(.+?) \((.+?), (.+)\)$/;

export function renkeiBin() {
  const bin = path.resolve(REPO_ROOT, process.env.RENKEI_BIN || 'target/debug/renkei');
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo build -p renkei\` or set RENKEI_BIN`);
  }
  return bin;
}

/** Environment for the server: ours, minus any RENKEI_* settings that could change its behaviour. */
function serverEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RENKEI_')) env[k] = v;
  }
  env.RUST_LOG = env.RUST_LOG || 'warn';
  return { ...env, ...extra };
}

export async function startServer({ env = {}, timeoutMs = 90_000 } = {}) {
  const bin = renkeiBin();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'renkei-e2e-'));
  const started = Date.now();
  // cwd is the temp dir so that no ./renkei.toml of the caller is picked up.
  const child = spawn(
    bin,
    ['demo', '--data-dir', path.join(dataDir, 'data'), '--http-addr', '127.0.0.1:0'],
    { cwd: dataDir, env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = [];
  const err = [];
  const logins = {};
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      reject(new Error(`renkei did not print its ready line within ${timeoutMs} ms\n${out.join('\n')}\n${err.join('')}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        out.push(line);
        const f = FEATURED.exec(line);
        if (f) logins[f[1]] = { loginId: f[1], name: f[2], profession: f[3], facility: f[4] };
        const m = READY.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ baseUrl: m[1], backend: m[2], reportedMs: Number(m[3]) });
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => err.push(chunk));
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    exitPromise.then((e) => {
      clearTimeout(timer);
      reject(new Error(`renkei exited before it was ready (${JSON.stringify(e)})\n${out.join('\n')}\n${err.join('')}`));
    });
  }).catch((e) => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  });

  // If the test process dies without calling stop(), take the server and its data with it.
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  let stopped = false;
  async function stop() {
    if (stopped) return exited;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 10_000);
      await exitPromise;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
    process.off('exit', onExit);
    return exited;
  }

  return {
    ...ready,
    startupMs: Date.now() - started,
    pid: child.pid,
    dataDir,
    logins,
    stdout: out,
    stderr: err,
    stop,
    exited: () => exited,
  };
}
