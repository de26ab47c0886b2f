// The second, independent FHIR check of what Huimin serves (the first is validate.py with
// fhir.resources): FHIR.js validates each file, and each bundle entry on its own, against the R4
// StructureDefinitions, refusing elements the specification does not define.
//
//     node validate-fhir.mjs FILE...
//
// Prints one line per error and "N problem(s)"; exits 1 if there is any.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { Fhir } = createRequire(import.meta.url)('fhir');
const fhir = new Fhir();
const problems = [];
let checked = 0;
const check = (where, resource) => {
  checked += 1;
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  for (const m of result.messages || []) {
    if (m.severity === 'error') problems.push(`${where}: ${m.location}: ${m.message}`);
  }
};
for (const file of process.argv.slice(2)) {
  const resource = JSON.parse(readFileSync(file, 'utf8'));
  check(file, resource);
  for (const [i, entry] of (resource.entry || []).entries()) {
    if (entry.resource) check(`${file} entry ${i} (${entry.resource.resourceType}/${entry.resource.id})`, entry.resource);
  }
}
for (const p of problems) console.log(p);
console.log(`${checked} resource(s) checked, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
