/**
 * The forwarder (src/dns/handlers/forward.ts) with fake upstreams and a fake clock: relayed
 * answers, upstreams tried in turn, SERVFAIL within the budget when all fail, REFUSED
 * without upstreams, and the in-flight bound counted.
 */
import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import type { DnsRequest } from '../../../src/dns/handler.ts';
import { createChain } from '../../../src/dns/handler.ts';
import { forwardHandler, type Upstream } from '../../../src/dns/handlers/forward.ts';
import { CLASS_IN, emptyResponse, type Query, RCODE, RR_TYPE, type Response } from '../../../src/dns/message.ts';

const query = (id = 7, edns = false): Query => ({
  id,
  opcode: 0,
  rd: true,
  cd: false,
  question: { name: 'example.org', type: RR_TYPE.A, class: CLASS_IN },
  ...(edns ? { edns: { udpPayloadSize: 1232, dnssecOk: false } } : {}),
});
const request = (q: Query = query()): DnsRequest => ({ query: q, sandboxId: 'sb', networkIds: ['n1'], transport: 'udp' });

/** An upstream answering example.org with `address` (with its own id), or as told. */
function upstream(
  name: string,
  behaviour: 'answer' | 'servfail' | 'nxdomain' | 'reject' | 'silent',
  address = '192.0.2.80',
): Upstream & { calls: number } {
  const u = {
    name,
    calls: 0,
    exchange(q: Query): Promise<Response> {
      u.calls++;
      if (behaviour === 'reject') return Promise.reject(new Error('connection refused'));
      if (behaviour === 'silent') return new Promise(() => {});
      const r = emptyResponse(
        { ...q, id: 999 },
        behaviour === 'servfail' ? RCODE.SERVFAIL : behaviour === 'nxdomain' ? RCODE.NXDOMAIN : RCODE.NOERROR,
      );
      if (behaviour === 'answer')
        r.answers.push({ name: q.question.name, type: RR_TYPE.A, class: CLASS_IN, ttl: 300, data: { kind: 'a', address } });
      r.edns = { udpPayloadSize: 512, dnssecOk: false };
      return Promise.resolve(r);
    },
  };
  return u;
}

t.test("an upstream's answer is relayed with the client's id", async (t) => {
  const clock = new FakeClock();
  const u = upstream('a', 'answer');
  const { handler, stats } = forwardHandler({ upstreams: () => [u], clock });
  const chain = createChain([handler]);
  const r = await chain(request(query(42)));
  t.equal(r.id, 42);
  t.equal(r.rcode, RCODE.NOERROR);
  t.ok(r.ra, 'recursion available');
  t.same(
    r.answers.map((a) => a.data),
    [{ kind: 'a', address: '192.0.2.80' }],
  );
  t.equal(r.edns, undefined, 'no OPT for a client that sent none');
  const e = await chain(request(query(43, true)));
  t.equal(e.edns?.udpPayloadSize, 4096, "an EDNS client gets the resolver's own OPT");
  t.same([stats.forwarded, stats.answered, stats.failed], [2, 2, 0]);
});

t.test('upstreams are tried in turn: a refusal, SERVFAIL or silence moves to the next; NXDOMAIN is an answer', async (t) => {
  const clock = new FakeClock();
  const failures: string[] = [];
  const a = upstream('a', 'reject');
  const b = upstream('b', 'servfail');
  const c = upstream('c', 'nxdomain');
  const { handler } = forwardHandler({ upstreams: () => [a, b, c], clock, onTryFailed: (n, why) => failures.push(`${n}: ${why}`) });
  const r = await createChain([handler])(request());
  t.equal(r.rcode, RCODE.NXDOMAIN);
  t.same(failures, ['a: connection refused', 'b: answered SERVFAIL']);

  const silent = upstream('s', 'silent');
  const ok = upstream('ok', 'answer', '192.0.2.81');
  const { handler: h2 } = forwardHandler({ upstreams: () => [silent, ok], clock, tryTimeoutMs: 1000 });
  const pending = createChain([h2])(request());
  await clock.advanceAsync(1000);
  const r2 = await pending;
  t.equal(r2.rcode, RCODE.NOERROR, 'after the first one timed out, the second answered');
  t.equal(ok.calls, 1);
});

t.test('every upstream failing: SERVFAIL within the budget', async (t) => {
  const clock = new FakeClock();
  const ups = [upstream('a', 'silent'), upstream('b', 'silent'), upstream('c', 'silent'), upstream('d', 'answer')];
  const { handler, stats } = forwardHandler({ upstreams: () => ups, clock });
  const started = clock.now();
  let done = false;
  const pending = createChain([handler])(request()).then((r) => {
    done = true;
    return r;
  });
  await clock.advanceAsync(3999);
  t.notOk(done, 'still trying before the budget ran out');
  await clock.advanceAsync(1);
  const r = await pending;
  t.equal(r.rcode, RCODE.SERVFAIL);
  t.ok(clock.now() - started <= 4000, 'within 4 s of fake time (the acceptance asks for 5)');
  t.equal(ups[3]!.calls, 0, 'at most three upstreams are tried');
  t.same([stats.failed, stats.inFlight], [1, 0]);
});

t.test('no upstream (an internal network): REFUSED at once, nothing sent', async (t) => {
  const clock = new FakeClock();
  const { handler, stats } = forwardHandler({ upstreams: () => [], clock });
  const r = await createChain([handler])(request());
  t.equal(r.rcode, RCODE.REFUSED);
  t.notOk(r.ra);
  t.equal(stats.refused, 1);
});

t.test('beyond maxInFlight: SERVFAIL at once, counted', async (t) => {
  const clock = new FakeClock();
  const slow = upstream('slow', 'silent');
  const { handler, stats } = forwardHandler({ upstreams: () => [slow], clock, maxInFlight: 3, tryTimeoutMs: 100, budgetMs: 100 });
  const chain = createChain([handler]);
  const first = [chain(request()), chain(request()), chain(request())];
  const over = await chain(request());
  t.equal(over.rcode, RCODE.SERVFAIL);
  t.same([stats.limited, stats.inFlight, stats.peakInFlight], [1, 3, 3]);
  await clock.advanceAsync(100);
  await Promise.all(first);
  t.equal(stats.inFlight, 0, 'the bound frees up as forwards end');
});
