/**
 * EndpointRecord's hand-written proto3 codec against proto/endpoint.proto read by
 * protobufjs: our bytes decode there and theirs decode here, byte for byte the same;
 * unknown fields are skipped; garbage throws SHOAL_ERR_OVERLAY_BAD_RECORD (and never
 * anything else), checked with generated inputs.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import t from 'tap';
import { isShoalError } from '../../../src/common/errors.ts';
import {
  decodeEndpointRecord,
  ENDPOINT_RECORD_FIELDS,
  type EndpointRecord,
  encodeEndpointRecord,
  endpointRecord,
} from '../../../src/overlay/endpoint-record.ts';
import { testSeed } from '../../support/seed.ts';

const PROTO = fileURLToPath(new URL('../../../proto/endpoint.proto', import.meta.url));
const root = protobuf.loadSync(PROTO);
const Type = root.lookupType('shoal.overlay.v1.EndpointRecord');

const full: EndpointRecord = {
  endpointId: 'ep-4f2a9c',
  networkId: 'net-front-01',
  kind: 'task',
  nodeId: 'node-h2',
  ip: '10.0.0.5',
  mac: '02:42:0a:00:00:05',
  vtep: '192.0.2.12',
  serviceId: 'svc-web',
  serviceName: 'web',
  taskId: 'task-web-1',
  name: 'web.1.abcdef',
  aliases: ['web', 'www', 'déjà-vu'],
  health: 'healthy',
  ipv6: 'fd00::5',
  state: 'draining',
};

/** protobufjs's object for a record (camelCase, as protobufjs names proto3 fields). */
function toProtobufjs(r: EndpointRecord): Record<string, unknown> {
  return { ...r };
}

function fromProtobufjs(bytes: Uint8Array): EndpointRecord {
  const o = Type.toObject(Type.decode(bytes), { defaults: true, arrays: true }) as Record<string, unknown>;
  return endpointRecord(o as Partial<EndpointRecord>);
}

t.test('the .proto declares exactly our fields and numbers', async (t) => {
  const fields = Object.fromEntries(Object.values(Type.fields).map((f) => [f.name, f.id]));
  t.same(fields, ENDPOINT_RECORD_FIELDS);
  for (const f of Object.values(Type.fields)) {
    t.equal(f.type, 'string', `${f.name} is a string`);
    t.equal(f.repeated, f.name === 'aliases', `${f.name} ${f.name === 'aliases' ? 'is' : 'is not'} repeated`);
  }
});

t.test('our bytes are protobufjs bytes, both ways', async (t) => {
  const cases: Array<[string, EndpointRecord]> = [
    ['every field', full],
    ['only some fields', endpointRecord({ endpointId: 'e1', ip: '10.0.0.9', mac: '02:42:0a:00:00:09', vtep: '192.0.2.11' })],
    ['empty record', endpointRecord()],
    ['an empty alias is kept', endpointRecord({ aliases: ['', 'x'] })],
    ['long value (multi-byte length)', endpointRecord({ name: 'n'.repeat(300), serviceName: 'ü'.repeat(100) })],
  ];
  for (const [what, r] of cases) {
    const ours = encodeEndpointRecord(r);
    const theirs = Type.encode(Type.fromObject(toProtobufjs(r))).finish();
    t.same(Buffer.from(ours), Buffer.from(theirs), `${what}: the same bytes`);
    t.same(fromProtobufjs(ours), r, `${what}: protobufjs reads ours`);
    t.same(decodeEndpointRecord(theirs), r, `${what}: we read protobufjs's`);
  }
  t.equal(encodeEndpointRecord(endpointRecord()).length, 0, 'an empty record is zero bytes (proto3 defaults are absent)');
});

t.test('generated records round-trip through both codecs', async (t) => {
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  const record = fc.record({
    endpointId: text,
    networkId: text,
    kind: text,
    nodeId: text,
    ip: text,
    mac: text,
    vtep: text,
    serviceId: text,
    serviceName: text,
    taskId: text,
    name: text,
    aliases: fc.array(text, { maxLength: 5 }),
    health: text,
    ipv6: text,
    state: text,
  });
  fc.assert(
    fc.property(record, (r) => {
      const ours = encodeEndpointRecord(r);
      t.same(decodeEndpointRecord(ours), r);
      t.same(fromProtobufjs(ours), r);
      t.same(decodeEndpointRecord(Type.encode(Type.fromObject(r)).finish()), r);
    }),
    { seed: testSeed(), numRuns: 200 },
  );
});

t.test('unknown fields of every wire type are skipped; the last of a repeated scalar wins', async (t) => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('first');
  w.uint32((90 << 3) | 0).uint64(123456789); // varint
  w.uint32((91 << 3) | 1).fixed64(7); // 64-bit
  w.uint32((92 << 3) | 2).bytes(Uint8Array.from([1, 2, 3])); // length-delimited
  w.uint32((93 << 3) | 5).fixed32(9); // 32-bit
  w.uint32((12 << 3) | 2).string('a');
  w.uint32((1 << 3) | 2).string('second');
  w.uint32((12 << 3) | 2).string('b');
  const r = decodeEndpointRecord(w.finish());
  t.equal(r.endpointId, 'second', 'last value of a scalar field');
  t.same(r.aliases, ['a', 'b'], 'every alias in order');
});

t.test('garbage throws SHOAL_ERR_OVERLAY_BAD_RECORD', async (t) => {
  const cases: Array<[string, number[]]> = [
    ['truncated tag varint', [0x8a]],
    ['truncated length', [0x0a]],
    ['length past the end', [0x0a, 0x05, 0x61]],
    ['field number 0', [0x02, 0x00]],
    ['known field as a varint', [0x08, 0x01]],
    ['known field as fixed32', [0x0d, 1, 2, 3, 4]],
    ['a group', [0x0b]],
    ['end group', [0x0c]],
    ['wire type 6', [0x0e]],
    ['wire type 7', [0x0f]],
    ['truncated fixed64', [0xd9, 0x05, 1, 2]],
    ['truncated fixed32', [0xed, 0x05, 1]],
    ['varint longer than 10 bytes', [0xd0, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['not UTF-8', [0x0a, 0x02, 0xc3, 0x28]],
  ];
  for (const [what, bytes] of cases) {
    t.throws(() => decodeEndpointRecord(Uint8Array.from(bytes)), { code: 'SHOAL_ERR_OVERLAY_BAD_RECORD' }, what);
  }
});

t.test('random bytes decode or throw the stable code, nothing else', async (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeEndpointRecord(bytes);
        decoded++;
      } catch (err) {
        if (!isShoalError(err, 'SHOAL_ERR_OVERLAY_BAD_RECORD')) throw err;
      }
    }),
    { seed: testSeed(), numRuns: 2000 },
  );
  t.pass(`${decoded} of 2000 random inputs decoded`);
});
