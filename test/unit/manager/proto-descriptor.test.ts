// The pre-parsed descriptor the compiled build ships (scripts/api-descriptor.mjs, read by
// src/api/proto.ts with protobufjs/light) is the parsed proto/api.proto: the same
// descriptor, and the same bytes and objects through both. Written here into a temporary
// directory, as the build writes it, so that the test never depends on dist/.
import t from 'tap';
import type { Test } from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error plain JavaScript without declarations
import { writeApiDescriptor } from '../../../scripts/api-descriptor.mjs';
import { defaultNetworkSpec } from '../../../src/api/api-defaults.ts';
import {
  API_DESCRIPTOR_FILE,
  API_PACKAGE,
  API_SERVICES,
  apiDescriptorPath,
  apiProtoPath,
  apiRoot,
  loadApiDescriptor,
  parseApiProto,
} from '../../../src/api/proto.ts';

const write = writeApiDescriptor as (protoPath: string, outPath: string) => void;

function shippedDescriptor(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-descriptor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'api', API_DESCRIPTOR_FILE);
  write(apiProtoPath(), out);
  return out;
}

t.test('the shipped descriptor and the parsed .proto are the same descriptor', async (t) => {
  const parsed = parseApiProto();
  const loaded = loadApiDescriptor(shippedDescriptor(t));
  t.same(loaded.toJSON(), parsed.toJSON());
  for (const service of API_SERVICES) {
    const a = loaded.lookupService(`${API_PACKAGE}.${service}`);
    const b = parsed.lookupService(`${API_PACKAGE}.${service}`);
    t.same(
      a.methodsArray.map((m) => [
        m.name,
        m.resolvedRequestType?.fullName,
        m.resolvedResponseType?.fullName,
        !!m.requestStream,
        !!m.responseStream,
      ]),
      b.methodsArray.map((m) => [
        m.name,
        m.resolvedRequestType?.fullName,
        m.resolvedResponseType?.fullName,
        !!m.requestStream,
        !!m.responseStream,
      ]),
      service,
    );
  }
});

t.test('both encode and decode a network the same way', async (t) => {
  const parsed = parseApiProto();
  const loaded = loadApiDescriptor(shippedDescriptor(t));
  const network = {
    id: 'n1',
    spec: { ...defaultNetworkSpec('front'), labels: { tier: 'web' }, attachable: true },
    version: 7,
    vxlanId: 4097,
    createdAt: '2026-01-01T00:00:00.000Z',
    endpointCount: 2 ** 40,
    serviceIds: ['s1', 's2'],
    ipam: [{ subnet: '10.0.1.0/24', gateway: '10.0.1.1' }],
  };
  const type = (root: typeof parsed) => root.lookupType(`${API_PACKAGE}.Network`);
  const bytesParsed = type(parsed).encode(type(parsed).fromObject(network)).finish();
  const bytesLoaded = type(loaded).encode(type(loaded).fromObject(network)).finish();
  t.ok(Buffer.from(bytesParsed).equals(Buffer.from(bytesLoaded)), 'the same bytes');
  const opts = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };
  t.same(type(loaded).toObject(type(loaded).decode(bytesParsed), opts), type(parsed).toObject(type(parsed).decode(bytesLoaded), opts));
});

t.test('run from the sources, the API reads proto/api.proto (no descriptor beside src/api/proto.ts)', async (t) => {
  t.equal(apiDescriptorPath(), join(fileURLToPath(new URL('../../../src/api/', import.meta.url)), API_DESCRIPTOR_FILE));
  t.notOk(existsSync(apiDescriptorPath()), 'nothing to go stale next to the sources');
  t.same(apiRoot().toJSON(), parseApiProto().toJSON());
});

t.test('an unreadable descriptor is SHOAL_ERR_INTERNAL naming the file', async (t) => {
  t.throws(() => loadApiDescriptor('/nonexistent/api.proto.json'), {
    code: 'SHOAL_ERR_INTERNAL',
    message: /\/nonexistent\/api\.proto\.json/,
  });
});
