/**
 * Model-based property test of the whole address space. Random sequences of network
 * creation (carved and user subnets, IPv4 and IPv6), dynamic, endpoint and static
 * allocation, release and removal run against a brute-force model that predicts every
 * result exactly: which subnet the carving picks, which address serial allocation picks,
 * which error a request gets. After every step the space is serialised and restored, and
 * the run continues on the restored copy: an inexact restore shows up as a wrong
 * prediction. Checked invariants: no address is ever held twice (within a network or
 * across the cluster), held sets and usage match the model, serialise(restore(x)) === x.
 */
import fc from 'fast-check';
import t from 'tap';
import { testSeed } from '../../support/seed.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import {
  createAddressSpace,
  restoreAddressSpace,
  type AddressSpace,
  type AddressSpaceConfigInput,
  type IpFamily,
} from '../../../src/ipam/index.ts';
import { formatAddress, parseAddress, parseCidr, type Cidr } from '../../../src/ipam/address.ts';

const seed = testSeed();

const CONFIG: AddressSpaceConfigInput = {
  defaultAddrPools: ['10.0.0.0/24', '10.0.2.0/25'],
  defaultAddrPoolMaskLength: 28,
  defaultIpv6Pool: 'fd00:1::/62',
  defaultIpv6PoolMaskLength: 64,
  carveExclude: ['10.0.0.64/27'],
};

interface MSubnet {
  family: IpFamily;
  cidr: Cidr;
  reserved: Set<bigint>;
  /** Next candidate of serial allocation. */
  cursor: bigint;
  carveSeq: number;
}

interface MNet {
  id: string;
  subnets: MSubnet[];
  held: Set<bigint>;
}

class Model {
  nets = new Map<string, MNet>();

  allSubnets(): { net: MNet; s: MSubnet }[] {
    return [...this.nets.values()].flatMap((net) => net.subnets.map((s) => ({ net, s })));
  }

  overlaps(c: Cidr): boolean {
    return this.allSubnets().some(({ s }) => s.cidr.family === c.family && s.cidr.base <= c.last && c.base <= s.cidr.last);
  }

  static subnet(cidr: Cidr, carveSeq: number): MSubnet {
    const reserved = new Set<bigint>([cidr.base, cidr.base + 1n]);
    if (cidr.family === 4) reserved.add(cidr.last);
    return { family: cidr.family, cidr, reserved, cursor: cidr.base, carveSeq };
  }

  /** The subnet the default carving gives next, or undefined (pool exhausted). */
  carve(family: IpFamily): Cidr | undefined {
    const pools = (family === 4 ? CONFIG.defaultAddrPools! : [CONFIG.defaultIpv6Pool!]).map((p) => parseCidr(p));
    const mask = family === 4 ? CONFIG.defaultAddrPoolMaskLength! : CONFIG.defaultIpv6PoolMaskLength!;
    const exclude = CONFIG.carveExclude!.map((x) => parseCidr(x)).filter((x) => x.family === family);
    const candidates: Cidr[] = [];
    const step = 1n << BigInt((family === 4 ? 32 : 128) - mask);
    for (const p of pools) for (let b = p.base; b <= p.last; b += step) candidates.push(parseCidr(`${formatAddress(family, b)}/${mask}`));
    const carved = this.allSubnets()
      .filter(({ s }) => s.family === family && s.carveSeq > 0)
      .sort((a, b) => a.s.carveSeq - b.s.carveSeq);
    const top = carved[carved.length - 1];
    let start = 0;
    if (top) {
      const i = candidates.findIndex((c) => c.base === top.s.cidr.base);
      if (i >= 0) start = i + 1;
    }
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[(start + k) % candidates.length]!;
      if (exclude.some((x) => x.base <= c.last && c.base <= x.last)) continue;
      if (!this.overlaps(c)) return c;
    }
    return undefined;
  }

  nextSeq(family: IpFamily): number {
    return (
      Math.max(
        0,
        ...this.allSubnets()
          .filter(({ s }) => s.family === family)
          .map(({ s }) => s.carveSeq),
      ) + 1
    );
  }

  /** Serial allocation in a family; returns the value or undefined (exhausted). */
  allocate(net: MNet, family: IpFamily, commit: boolean): bigint | undefined {
    for (const s of net.subnets.filter((x) => x.family === family)) {
      const free = (v: bigint) => !s.reserved.has(v) && !net.held.has(v);
      let found: bigint | undefined;
      // Small subnets: scan; /64: the held set is tiny, so walking from the cursor ends fast.
      for (let v = s.cursor; v <= s.cidr.last && found === undefined; v++) if (free(v)) found = v;
      for (let v = s.cidr.base; v < s.cursor && found === undefined; v++) if (free(v)) found = v;
      if (found !== undefined) {
        if (commit) {
          net.held.add(found);
          s.cursor = found === s.cidr.last ? s.cidr.base : found + 1n;
        }
        return found;
      }
    }
    return undefined;
  }
}

type Op =
  | { t: 'create'; kind: number; a: number; b: number }
  | { t: 'alloc'; net: number; fam: boolean }
  | { t: 'endpoint'; net: number }
  | { t: 'static'; net: number; a: number }
  | { t: 'release'; net: number; a: number; held: boolean }
  | { t: 'remove'; net: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('create' as const), kind: fc.nat({ max: 4 }), a: fc.nat({ max: 63 }), b: fc.nat({ max: 3 }) }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('alloc' as const), net: fc.nat(), fam: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('endpoint' as const), net: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('static' as const), net: fc.nat(), a: fc.nat({ max: 300 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('release' as const), net: fc.nat(), a: fc.nat({ max: 300 }), held: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), net: fc.nat() }) },
);

function codeOf(fn: () => unknown): { code?: string; value?: unknown } {
  try {
    return { value: fn() };
  } catch (err) {
    if (!isShoalError(err)) throw err;
    return { code: err.code };
  }
}

function fail(msg: string): never {
  throw new Error(msg);
}

function run(ops: Op[]): void {
  let space: AddressSpace = createAddressSpace(CONFIG);
  const model = new Model();
  let counter = 0;
  const pickNet = (n: number): MNet | undefined => {
    const ids = [...model.nets.keys()].sort();
    return ids.length === 0 ? undefined : model.nets.get(ids[n % ids.length]!);
  };
  const text = (family: IpFamily, v: bigint) => formatAddress(family, v);

  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    switch (op.t) {
      case 'create': {
        const id = `n${counter++}`;
        // kind 0: carved IPv4; 1: carved IPv4 + IPv6; 2: user IPv4 /27-/30 in 10.0.0.0/22;
        // 3: user IPv6 /64 or /120 near the ULA pool; 4: IPv6 only, carved.
        let req: Parameters<AddressSpace['createNetwork']>[0];
        const expected: MSubnet[] = [];
        let expectCode: string | undefined;
        if (op.kind === 2) {
          const prefix = 27 + op.b;
          const size = 2 ** (32 - prefix);
          const base = 0x0a000000 + ((op.a * 16) % 1024) - (((op.a * 16) % 1024) % size);
          const cidr = parseCidr(`${formatAddress(4, BigInt(base))}/${prefix}`);
          req = { id, name: id, subnets: [{ subnet: cidr.text }] };
          if (model.overlaps(cidr)) expectCode = 'SHOAL_ERR_IPAM_OVERLAP';
          else expected.push(Model.subnet(cidr, 0));
        } else if (op.kind === 3) {
          const x = op.a % 6;
          const cidr = parseCidr(op.b < 2 ? `fd00:1:0:${x}::/64` : op.b === 2 ? `fd00:1:0:${x}::/120` : `fd00:1:0:${x}::100/120`);
          req = { id, name: id, ipv4: false, subnets: [{ subnet: cidr.text }] };
          if (model.overlaps(cidr)) expectCode = 'SHOAL_ERR_IPAM_OVERLAP';
          else expected.push(Model.subnet(cidr, 0));
        } else {
          const v4 = op.kind !== 4;
          const v6 = op.kind !== 0;
          req = { id, name: id, ipv4: v4, ipv6: v6 };
          if (v4) {
            const c = model.carve(4);
            if (c) expected.push(Model.subnet(c, model.nextSeq(4)));
            else expectCode = 'SHOAL_ERR_IPAM_POOL_EXHAUSTED';
          }
          if (v6 && expectCode === undefined) {
            const c = model.carve(6);
            if (c) expected.push(Model.subnet(c, model.nextSeq(6)));
            else expectCode = 'SHOAL_ERR_IPAM_POOL_EXHAUSTED';
          }
        }
        const r = codeOf(() => space.createNetwork(req));
        if (r.code !== expectCode) fail(`${where}: got ${r.code}, want ${expectCode}`);
        if (expectCode === undefined) {
          const got = space.get(id)!.subnets.map((s) => s.subnet);
          const want = expected.map((s) => s.cidr.text);
          if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${where}: subnets ${got}, want ${want}`);
          model.nets.set(id, { id, subnets: expected, held: new Set() });
        }
        break;
      }
      case 'alloc':
      case 'endpoint': {
        const m = pickNet(op.net);
        if (!m) break;
        const net = space.get(m.id)!;
        const families: IpFamily[] = [...new Set(m.subnets.map((s) => s.family))];
        if (op.t === 'alloc') {
          const fam: IpFamily = families.length === 2 ? (op.fam ? 6 : 4) : families[0]!;
          const want = m.subnets.some((s) => s.family === fam) ? model.allocate(m, fam, true) : undefined;
          const r = codeOf(() => net.allocate(fam));
          if (want === undefined) {
            if (r.code !== 'SHOAL_ERR_IPAM_EXHAUSTED') fail(`${where}: got ${r.code ?? String(r.value)}, want exhaustion`);
          } else if (r.value !== text(fam, want)) {
            fail(`${where}: got ${r.code ?? String(r.value)}, want ${text(fam, want)}`);
          }
        } else {
          const wants = families.map((f) => model.allocate(m, f, false));
          const r = codeOf(() => net.allocateEndpoint());
          if (wants.some((w) => w === undefined)) {
            if (r.code !== 'SHOAL_ERR_IPAM_EXHAUSTED') fail(`${where}: got ${r.code ?? JSON.stringify(r.value)}, want exhaustion`);
          } else {
            for (const f of families) model.allocate(m, f, true);
            const v = r.value as { ipv4?: string; ipv6?: string };
            const want = Object.fromEntries(families.map((f, i) => [`ipv${f}`, text(f, wants[i]!)]));
            for (const f of [4, 6] as const) {
              if (v[`ipv${f}`] !== want[`ipv${f}`]) fail(`${where}: got ${JSON.stringify(v)}, want ${JSON.stringify(want)}`);
            }
          }
        }
        break;
      }
      case 'static': {
        const m = pickNet(op.net);
        if (!m) break;
        const s = m.subnets[op.a % m.subnets.length]!;
        const span = s.cidr.last - s.cidr.base + 1n;
        // Mostly inside the subnet, sometimes just past it.
        const v = s.cidr.base + (BigInt(op.a) % (span + 2n < 300n ? span + 2n : 300n));
        const inside = m.subnets.some((x) => x.family === s.family && v >= x.cidr.base && v <= x.cidr.last);
        const owner = m.subnets.find((x) => x.family === s.family && v >= x.cidr.base && v <= x.cidr.last);
        const want = !inside
          ? 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET'
          : owner!.reserved.has(v)
            ? 'SHOAL_ERR_IPAM_ADDRESS_RESERVED'
            : m.held.has(v)
              ? 'SHOAL_ERR_IPAM_ADDRESS_IN_USE'
              : undefined;
        const r = codeOf(() => space.get(m.id)!.allocateStatic(text(s.family, v)));
        if (r.code !== want) fail(`${where}: static ${text(s.family, v)} got ${r.code}, want ${want}`);
        if (want === undefined) m.held.add(v);
        break;
      }
      case 'release': {
        const m = pickNet(op.net);
        if (!m) break;
        let v: bigint;
        let family: IpFamily;
        const held = [...m.held].sort((a, b) => (a < b ? -1 : 1));
        if (op.held && held.length > 0) {
          v = held[op.a % held.length]!;
          family = m.subnets.find((s) => v >= s.cidr.base && v <= s.cidr.last && (s.family === 4 ? v < 2n ** 32n : true))!.family;
        } else {
          const s = m.subnets[op.a % m.subnets.length]!;
          family = s.family;
          v = s.cidr.base + (BigInt(op.a) % (s.cidr.last - s.cidr.base + 1n));
        }
        const owner = m.subnets.find((x) => x.family === family && v >= x.cidr.base && v <= x.cidr.last)!;
        const r = codeOf(() => space.get(m.id)!.release(text(family, v)));
        if (owner.reserved.has(v)) {
          if (r.code !== 'SHOAL_ERR_IPAM_ADDRESS_RESERVED') fail(`${where}: release of reserved ${text(family, v)} got ${r.code}`);
        } else if (r.value !== m.held.has(v)) {
          fail(`${where}: release ${text(family, v)} returned ${String(r.value)}${r.code ?? ''}, model held=${m.held.has(v)}`);
        }
        m.held.delete(v);
        break;
      }
      case 'remove': {
        const m = pickNet(op.net);
        if (!m) break;
        if (!space.removeNetwork(m.id)) fail(`${where}: remove returned false`);
        model.nets.delete(m.id);
        break;
      }
    }

    // ---- invariants after every step
    if (space.size !== model.nets.size) fail(`${where}: ${space.size} networks, model ${model.nets.size}`);
    const everywhere = new Set<string>();
    for (const m of model.nets.values()) {
      const net = space.get(m.id)!;
      const got = [...net.allocatedAddresses()];
      const want = [...m.held].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const fam = (v: bigint) =>
        m.subnets.find((s) => v >= s.cidr.base && v <= s.cidr.last && (s.family === 4) === (v < 2n ** 32n && s.family === 4))?.family ?? 6;
      const wantText = want.map((v) => text(fam(v), v)).sort();
      if (JSON.stringify([...got].sort()) !== JSON.stringify(wantText)) fail(`${where}: network ${m.id} holds ${got}, model ${wantText}`);
      if (new Set(got).size !== got.length) fail(`${where}: an address is listed twice in ${m.id}`);
      for (const a of got) {
        if (everywhere.has(a)) fail(`${where}: ${a} is held by two networks`);
        everywhere.add(a);
        const p = parseAddress(a)!;
        if (m.subnets.some((s) => s.family === p.family && s.reserved.has(p.value))) fail(`${where}: reserved ${a} is held`);
      }
      const used = net.usage().subnets.reduce((n, s) => n + s.used, 0);
      if (used !== m.held.size) fail(`${where}: usage says ${used} used, model ${m.held.size}`);
    }

    // ---- durable form: round trip, then carry on with the restored copy
    const stored = space.serializeAll();
    const restored = restoreAddressSpace(CONFIG, [...stored].reverse());
    const again = restored.serializeAll();
    const key = (xs: { id: string; state: string }[]) => JSON.stringify([...xs].sort((a, b) => (a.id < b.id ? -1 : 1)));
    if (key(again) !== key(stored)) fail(`${where}: serialise(restore(x)) differs from x`);
    space = restored;
  }
}

t.test('model-based: allocation, carving and restore agree with a brute-force model at every step', async (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
      run(ops);
    }),
    { seed, numRuns: 250 },
  );
  t.pass('all runs agreed with the model');
});

t.test('model-based: long churn on few networks', async (t) => {
  const churn = fc.array(
    fc.oneof(
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('create' as const),
          kind: fc.constantFrom(0, 1, 2),
          a: fc.nat({ max: 63 }),
          b: fc.constant(3),
        }),
      },
      { weight: 8, arbitrary: fc.record({ t: fc.constant('alloc' as const), net: fc.nat({ max: 2 }), fam: fc.boolean() }) },
      {
        weight: 8,
        arbitrary: fc.record({
          t: fc.constant('release' as const),
          net: fc.nat({ max: 2 }),
          a: fc.nat({ max: 300 }),
          held: fc.constant(true),
        }),
      },
    ) as fc.Arbitrary<Op>,
    { minLength: 50, maxLength: 400 },
  );
  fc.assert(
    fc.property(churn, (ops) => {
      run(ops);
    }),
    { seed: seed + 1, numRuns: 60 },
  );
  t.pass('all runs agreed with the model');
});

t.test('model-based: network churn (carving order, pool exhaustion, reuse after removal)', async (t) => {
  const churn = fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          t: fc.constant('create' as const),
          kind: fc.constantFrom(0, 0, 1, 2, 4),
          a: fc.nat({ max: 63 }),
          b: fc.nat({ max: 3 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('remove' as const), net: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('alloc' as const), net: fc.nat(), fam: fc.boolean() }) },
    ) as fc.Arbitrary<Op>,
    { minLength: 10, maxLength: 150 },
  );
  fc.assert(
    fc.property(churn, (ops) => {
      run(ops);
    }),
    { seed: seed + 2, numRuns: 150 },
  );
  t.pass('all runs agreed with the model');
});
