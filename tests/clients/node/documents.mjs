// Drives OpenDMP's document API with fhir-kit-client, a FHIR client nobody here wrote.
// Usage: node documents.mjs <fhir base url> <doctor token> <holder token> <patient id>
import Client from 'fhir-kit-client';

const [baseUrl, doctorToken, holderToken, patientId] = process.argv.slice(2);
const doctor = new Client({ baseUrl, bearerToken: doctorToken });
const holder = new Client({ baseUrl, bearerToken: holderToken });
const pdf = Buffer.from('%PDF-1.4\nfhir-kit-client\n%%EOF\n');
const visibility = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument';

function documentReference(content, extra = {}) {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] },
    subject: { reference: `Patient/${patientId}` },
    content: [{ attachment: { contentType: 'application/pdf', data: content.toString('base64') } }],
    ...extra,
  };
}

function check(condition, message) {
  if (!condition) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
}

const created = await doctor.create({ resourceType: 'DocumentReference', body: documentReference(pdf) });
check(created.id && created.status === 'current', 'create answers the stored DocumentReference');

const found = await doctor.search({ resourceType: 'DocumentReference', searchParams: { patient: patientId } });
check(found.total === 1 && found.entry[0].resource.id === created.id, 'search finds it');

const binary = await doctor.read({ resourceType: 'Binary', id: created.id });
check(Buffer.from(binary.data, 'base64').equals(pdf), 'Binary returns the same bytes');

const bundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:0b6e2f44-0000-4000-8000-000000000001',
      resource: {
        resourceType: 'List', status: 'current', mode: 'working', subject: { reference: `Patient/${patientId}` },
        identifier: [{ use: 'official', system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.3.4.5.6' }],
      },
      request: { method: 'POST', url: 'List' },
    },
    {
      fullUrl: 'urn:uuid:0b6e2f44-0000-4000-8000-000000000002',
      resource: (() => {
        const reference = documentReference(Buffer.from('%PDF-1.4\nv2\n'), {
          relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${created.id}` } }],
        });
        delete reference.content[0].attachment.data;
        reference.content[0].attachment.url = 'urn:uuid:0b6e2f44-0000-4000-8000-000000000003';
        return reference;
      })(),
      request: { method: 'POST', url: 'DocumentReference' },
    },
    {
      fullUrl: 'urn:uuid:0b6e2f44-0000-4000-8000-000000000003',
      resource: { resourceType: 'Binary', contentType: 'application/pdf', data: Buffer.from('%PDF-1.4\nv2\n').toString('base64') },
      request: { method: 'POST', url: 'Binary' },
    },
  ],
};
const response = await doctor.transaction({ body: bundle });
check(response.type === 'transaction-response', 'ITI-65 answers a transaction-response');
const replacementId = response.entry[1].response.location.split('/')[1];
const old = await doctor.read({ resourceType: 'DocumentReference', id: created.id });
check(old.status === 'superseded', 'the replaced version is superseded');

const masked = await holder.patch({
  resourceType: 'DocumentReference',
  id: replacementId,
  JSONPatch: [{ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: visibility, code: 'MASQUE_PS' }] } }],
});
check(masked.meta.security.some((s) => s.code === 'MASQUE_PS'), 'the holder masks the document');

await doctor.delete({ resourceType: 'DocumentReference', id: replacementId });
const after = await doctor.search({ resourceType: 'DocumentReference', searchParams: { patient: patientId } });
check(after.total === 0, 'a deleted document leaves the list');

console.log(JSON.stringify({ ok: true, created: created.id, replacement: replacementId }));
