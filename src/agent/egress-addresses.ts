/**
 * Addresses on the node's egress bridge, one per sandbox that has a route out. They are
 * node-local (no other node sees them: egress traffic is masqueraded to the node's own
 * address), so the agent allocates them itself and keeps them in DATA-DIR/egress.json:
 * a restarted agent gives every adopted sandbox the address it already has, and the resync
 * finds nothing to change.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/fs.ts';
import { formatV4, parseV4 } from '../common/ip.ts';

export class EgressAddresses {
  private readonly byOwner = new Map<string, number>();
  private readonly used = new Set<number>();
  private readonly first: number;
  private readonly last: number;
  private next: number;

  /** `subnet` like 172.18.0.0/16; the gateway takes the first address. */
  constructor(
    private readonly file: string | undefined,
    private readonly subnet: string,
  ) {
    const [base, len] = subnet.split('/');
    const size = 2 ** (32 - Number(len));
    const net = parseV4(base!);
    this.first = net + 2;
    this.last = net + size - 2;
    this.next = this.first;
    if (file) this.load(file);
  }

  private load(file: string): void {
    let doc: Record<string, string>;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      return; // first start, or an unreadable file: allocate afresh
    }
    for (const [owner, addr] of Object.entries(doc)) {
      const ip = parseV4(addr.split('/')[0]!);
      if (ip < this.first || ip > this.last || this.used.has(ip)) continue;
      this.byOwner.set(owner, ip);
      this.used.add(ip);
      // allocation goes on after the highest address in use: a released address is reused
      // only after the subnet wrapped, long after its conntrack entries expired
      if (ip >= this.next) this.next = ip + 1 > this.last ? this.first : ip + 1;
    }
  }

  private prefixLen(): string {
    return this.subnet.split('/')[1]!;
  }

  /** The owner's address with prefix length, allocating one if it has none. */
  get(owner: string): string {
    let ip = this.byOwner.get(owner);
    if (ip === undefined) {
      const span = this.last - this.first + 1;
      for (let i = 0; i < span; i++) {
        const candidate = this.first + ((this.next - this.first + i) % span);
        if (!this.used.has(candidate)) {
          ip = candidate;
          break;
        }
      }
      if (ip === undefined) throw new Error(`the egress subnet ${this.subnet} is full`);
      this.next = ip + 1 > this.last ? this.first : ip + 1;
      this.byOwner.set(owner, ip);
      this.used.add(ip);
      this.save();
    }
    return `${formatV4(ip)}/${this.prefixLen()}`;
  }

  /** The owner's address with prefix length, or undefined when it has none (never allocates). */
  peek(owner: string): string | undefined {
    const ip = this.byOwner.get(owner);
    return ip === undefined ? undefined : `${formatV4(ip)}/${this.prefixLen()}`;
  }

  /** Releases every owner not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    let changed = false;
    for (const [owner, ip] of this.byOwner) {
      if (keep.has(owner)) continue;
      this.byOwner.delete(owner);
      this.used.delete(ip);
      changed = true;
    }
    if (changed) this.save();
  }

  private save(): void {
    if (!this.file) return;
    const doc: Record<string, string> = {};
    for (const [owner, ip] of this.byOwner) doc[owner] = `${formatV4(ip)}/${this.prefixLen()}`;
    writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`);
  }
}
