/**
 * The handler chain without sockets: handlers run in order, the first to answer ends the
 * request, `next` passes on (with a changed request, or editing the answer that comes
 * back); the final handler (REFUSED by default); the error boundary (a handler that throws,
 * rejects, or a final that calls next -> SERVFAIL for that request alone, reported, the
 * chain still serving); and the query check (opcode other than QUERY -> NOTIMP, class other
 * than IN -> REFUSED) as a case table in front of a handler that answers everything.
 */
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { createChain, type DnsRequest, type Handler, refused, serverFailure } from '../../../src/dns/handler.ts';
import { checkQuery } from '../../../src/dns/handlers/query-check.ts';
import { recordsHandler } from '../../../src/dns/handlers/records.ts';
import { CLASS_IN, emptyResponse, type Query, RCODE, RR_TYPE } from '../../../src/dns/message.ts';
import { buildRecordIndex } from '../../../src/dns/records.ts';

function query(name: string, extra: { opcode?: number; class?: number; type?: number; edns?: boolean } = {}): Query {
  return {
    id: 77,
    opcode: extra.opcode ?? 0,
    rd: true,
    cd: false,
    question: { name, type: extra.type ?? RR_TYPE.A, class: extra.class ?? CLASS_IN },
    ...(extra.edns ? { edns: { udpPayloadSize: 1232, dnssecOk: false } } : {}),
  };
}
const request = (name: string, extra: Parameters<typeof query>[1] = {}): DnsRequest => ({
  query: query(name, extra),
  sandboxId: 'sb',
  networkIds: ['n-front'],
  transport: 'udp',
});

/** A handler that answers `name` with 192.0.2.1 and passes everything else, logging its visits. */
function answering(name: string, log: string[]): Handler {
  return (req, next) => {
    log.push(`${name}:${req.query.question.name}`);
    if (req.query.question.name !== name) return next(req);
    return {
      ...emptyResponse(req.query),
      aa: true,
      answers: [{ name, type: RR_TYPE.A, class: CLASS_IN, ttl: 5, data: { kind: 'a', address: '192.0.2.1' } }],
    };
  };
}

t.test('the chain runs handlers in order; the first to answer ends the request', async (t) => {
  const log: string[] = [];
  const chain = createChain([answering('one.example.org', log), answering('two.example.org', log), answering('three.example.org', log)]);
  const res = await chain(request('two.example.org'));
  t.equal(res.rcode, RCODE.NOERROR);
  t.equal(res.answers.length, 1);
  t.same(log, ['one.example.org:two.example.org', 'two.example.org:two.example.org'], 'three never saw it');
  log.length = 0;
  const none = await chain(request('example.org'));
  t.same(none, refused(request('example.org')), 'nothing answered: the default final handler, REFUSED');
  t.equal(none.rcode, RCODE.REFUSED);
  t.equal(none.ra, false, 'no recursion available at the end of a chain');
  t.equal(none.id, 77);
  t.same(log.length, 3, 'every handler saw it');
});

t.test('a handler may pass on a changed request and edit the answer that comes back', async (t) => {
  const rewrite: Handler = async (req, next) => {
    const res = await next({ ...req, query: { ...req.query, question: { ...req.query.question, name: 'two.example.org' } } });
    return { ...res, question: req.query.question, answers: res.answers.map((rr) => ({ ...rr, name: req.query.question.name })) };
  };
  const chain = createChain([rewrite, answering('two.example.org', [])]);
  const res = await chain(request('alias.example.org'));
  t.same(
    res.answers.map((rr) => `${rr.name} ${rr.data.kind === 'a' ? rr.data.address : ''}`),
    ['alias.example.org 192.0.2.1'],
  );
  t.equal(res.question?.name, 'alias.example.org');
});

t.test('the final handler is configurable', async (t) => {
  const chain = createChain([], { final: (req) => emptyResponse(req.query, RCODE.NXDOMAIN) });
  t.equal((await chain(request('x.example.org'))).rcode, RCODE.NXDOMAIN);
});

t.test('the error boundary: throw, reject, bad final -> SERVFAIL, reported, chain still serving', async (t) => {
  const errors: unknown[] = [];
  const boom = new Error('boom');
  const throwing: Handler = (req, next) => {
    if (req.query.question.name === 'sync.example.org') throw boom;
    if (req.query.question.name === 'async.example.org') return Promise.reject(boom);
    return next(req);
  };
  const chain = createChain([answering('ok.example.org', []), throwing], { onError: (err) => errors.push(err) });
  for (const name of ['sync.example.org', 'async.example.org']) {
    const res = await chain(request(name, { edns: true }));
    t.same(res, serverFailure(request(name, { edns: true })), `${name}: SERVFAIL`);
    t.equal(res.rcode, RCODE.SERVFAIL);
    t.equal(res.id, 77, 'id echoed');
    t.same(res.question, query(name).question, 'question echoed');
    t.ok(res.edns, 'OPT echoed');
  }
  t.same(errors, [boom, boom], 'each error reported once');
  t.equal((await chain(request('ok.example.org'))).rcode, RCODE.NOERROR, 'the chain still answers');

  const badFinal = createChain([], { final: (req, next) => next(req), onError: (err) => errors.push(err) });
  t.equal((await badFinal(request('x.example.org'))).rcode, RCODE.SERVFAIL, 'a final handler calling next');
  t.match(errors[2], { code: 'SHOAL_ERR_INTERNAL' });

  const badReporter = createChain([throwing], {
    onError: () => {
      throw new Error('reporter failed');
    },
  });
  t.equal((await badReporter(request('sync.example.org'))).rcode, RCODE.SERVFAIL, 'a throwing onError is ignored');

  // A handler that throws something that is not an Error.
  const weird = createChain([
    () => {
      throw 'a string';
    },
  ]);
  t.equal((await weird(request('x.example.org'))).rcode, RCODE.SERVFAIL);
});

t.test('query check: opcode and class before names', async (t) => {
  const everything: Handler = (req) => ({ ...emptyResponse(req.query), aa: true });
  const chain = createChain([checkQuery, everything]);
  const CASES: [what: string, opcode: number, qclass: number, rcode: number, ra: boolean][] = [
    ['QUERY IN: passed on', 0, CLASS_IN, RCODE.NOERROR, true],
    ['IQUERY: NOTIMP', 1, CLASS_IN, RCODE.NOTIMP, true],
    ['STATUS: NOTIMP', 2, CLASS_IN, RCODE.NOTIMP, true],
    ['NOTIFY: NOTIMP', 4, CLASS_IN, RCODE.NOTIMP, true],
    ['UPDATE: NOTIMP', 5, CLASS_IN, RCODE.NOTIMP, true],
    ['NOTIFY, CHAOS: NOTIMP first', 4, 3, RCODE.NOTIMP, true],
    ['CHAOS: REFUSED', 0, 3, RCODE.REFUSED, false],
    ['HESIOD: REFUSED', 0, 4, RCODE.REFUSED, false],
    ['QCLASS ANY: REFUSED', 0, 255, RCODE.REFUSED, false],
  ];
  for (const [what, opcode, qclass, rcode, ra] of CASES) {
    const res = await chain(request('version.bind', { opcode, class: qclass }));
    t.same(
      { rcode: res.rcode, aa: res.aa, ra: res.ra, answers: res.answers },
      { rcode, aa: rcode === RCODE.NOERROR, ra, answers: [] },
      what,
    );
    t.equal(res.opcode, opcode, `${what}: opcode echoed`);
  }
});

t.test('the standard chain: NOTIMP even for a name the records own; records, then the rest', async (t) => {
  const index = buildRecordIndex({
    networks: [{ id: 'n-front', name: 'front', internal: false, ingress: false }],
    services: [
      {
        id: 's',
        name: 'web',
        endpointMode: 'vip',
        virtualIps: [{ networkId: 'n-front', addr: '10.0.1.2/24' }],
        networks: [{ target: 'n-front', aliases: [] }],
      },
    ],
    tasks: [],
    containers: [],
  });
  const log: string[] = [];
  const chain = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(1) }), answering('example.org', log)]);
  const CASES: [what: string, req: DnsRequest, rcode: number, aa: boolean, answers: string[]][] = [
    ['a name of ours', request('web'), RCODE.NOERROR, true, ['10.0.1.2']],
    ['the same over TCP', { ...request('web'), transport: 'tcp' }, RCODE.NOERROR, true, ['10.0.1.2']],
    ['opcode NOTIFY for a name of ours', request('web', { opcode: 4 }), RCODE.NOTIMP, false, []],
    ['CHAOS class for a name of ours', request('web', { class: 3 }), RCODE.REFUSED, false, []],
    ['an external name: the next handler', request('example.org'), RCODE.NOERROR, true, ['192.0.2.1']],
    ['unknown under front: NXDOMAIN, not passed on', request('nothing.front'), RCODE.NXDOMAIN, true, []],
    ['nobody knows it: REFUSED', request('unknown.example.net'), RCODE.REFUSED, false, []],
  ];
  for (const [what, req, rcode, aa, answers] of CASES) {
    const res = await chain(req);
    t.same(
      { rcode: res.rcode, aa: res.aa, answers: res.answers.map((rr) => (rr.data.kind === 'a' ? rr.data.address : rr.data.kind)).sort() },
      { rcode, aa, answers },
      what,
    );
  }
  t.same(log, ['example.org:example.org', 'example.org:unknown.example.net'], 'only the names not ours reached the last handler');
});
