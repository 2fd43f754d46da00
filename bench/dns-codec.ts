/**
 * DNS wire codec benchmark: `npm run bench -- dns-codec`. Progress goes to stderr; the last
 * stdout line is one JSON object of figures.
 *
 * The work measured is what the embedded resolver does for each query it answers itself: a
 * typical A query (`web.front`, RD, an OPT record with a 1232-byte payload, as dig and the
 * glibc stub with `edns0` send it) decoded, a response built holding two A records, and that
 * response encoded for the client's payload size (the name compressed). The same work is done
 * with the dns-packet package (decode, a response packet, encode), in the same run, rounds of
 * the two interleaved so that machine load hits both alike; each figure is the median of the
 * rounds.
 *
 * - query_answer_per_s: decodeQuery + building the response + encodeResponse, per second.
 * - dns_packet_query_answer_per_s: dns-packet's decode + building the packet + encode.
 * - ratio: query_answer_per_s / dns_packet_query_answer_per_s (above 1: ours is faster).
 * - decode_query_per_s, encode_response_per_s: the two halves of ours alone.
 * - decode_response_per_s: decodeResponse of the encoded answer (the forwarding path reads
 *   upstream answers with it).
 * - response_bytes: the size of the encoded answer (the same for both codecs).
 */
import dnsPacket from 'dns-packet';
import { emptyResponse, RR_TYPE } from '../src/dns/message.ts';
import { decodeQuery, decodeResponse, encodeQuery, encodeResponse } from '../src/dns/wire.ts';
import { median } from './_stats.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7);
/** Time given to each codec in each round. */
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 400);

function log(msg: string): void {
  process.stderr.write(`dns-codec: ${msg}\n`);
}

const QUERY = encodeQuery({
  id: 0x5a5a,
  opcode: 0,
  rd: true,
  cd: false,
  question: { name: 'web.front', type: RR_TYPE.A, class: 1 },
  edns: { udpPayloadSize: 1232, dnssecOk: false },
});

let sink = 0;

function ours(): void {
  const q = decodeQuery(QUERY);
  const r = emptyResponse(q);
  r.aa = true;
  r.answers.push(
    { name: q.question.name, type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.5' } },
    { name: q.question.name, type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.6' } },
  );
  sink += encodeResponse(r, q.edns ? q.edns.udpPayloadSize : 512).length;
}

function theirs(): void {
  const q = dnsPacket.decode(Buffer.from(QUERY.buffer, QUERY.byteOffset, QUERY.length));
  const name = q.questions![0]!.name;
  const opt = q.additionals?.find((x) => x.type === 'OPT');
  const out = dnsPacket.encode({
    id: q.id!,
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: q.questions!,
    answers: [
      { name, type: 'A', class: 'IN', ttl: 600, data: '10.0.1.5' },
      { name, type: 'A', class: 'IN', ttl: 600, data: '10.0.1.6' },
    ],
    additionals: opt ? [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0 } as dnsPacket.Answer] : [],
  });
  sink += out.length;
}

/** Calls `fn` for `ms` milliseconds (checking the clock every 1,000 calls); returns calls per second. */
function rate(fn: () => void, ms: number): number {
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(ms) * 1_000_000n;
  let n = 0;
  let now = t0;
  while (now < until) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - t0) / 1e9);
}

// The same bytes from both codecs, before anything is timed.
const sample = (() => {
  const q = decodeQuery(QUERY);
  const r = emptyResponse(q);
  r.aa = true;
  r.answers.push({ name: 'web.front', type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.5' } });
  r.answers.push({ name: 'web.front', type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.6' } });
  return encodeResponse(r, 1232);
})();
const checked = dnsPacket.decode(Buffer.from(sample));
if (checked.answers?.length !== 2 || checked.answers[1]!.type !== 'A') throw new Error('bench: dns-packet does not read our answer');
const sampleBuf = Buffer.from(sample);

log('warming up ...');
rate(ours, 300);
rate(theirs, 300);
const oursRates: number[] = [];
const theirRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  oursRates.push(rate(ours, ROUND_MS));
  theirRates.push(rate(theirs, ROUND_MS));
  log(`  round ${round + 1}/${ROUNDS}: ours ${Math.round(oursRates.at(-1)!)}/s, dns-packet ${Math.round(theirRates.at(-1)!)}/s`);
}
log('halves and the response decoder ...');
const decodeRates: number[] = [];
const encodeRates: number[] = [];
const responseRates: number[] = [];
const decoded = decodeQuery(QUERY);
const prepared = emptyResponse(decoded);
prepared.answers.push({ name: 'web.front', type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.5' } });
prepared.answers.push({ name: 'web.front', type: RR_TYPE.A, class: 1, ttl: 600, data: { kind: 'a', address: '10.0.1.6' } });
for (let round = 0; round < 3; round++) {
  decodeRates.push(
    rate(() => {
      sink += decodeQuery(QUERY).id;
    }, ROUND_MS),
  );
  encodeRates.push(
    rate(() => {
      sink += encodeResponse(prepared, 1232).length;
    }, ROUND_MS),
  );
  responseRates.push(
    rate(() => {
      sink += decodeResponse(sampleBuf).answers.length;
    }, ROUND_MS),
  );
}

const oursMedian = Math.round(median(oursRates));
const theirsMedian = Math.round(median(theirRates));
const ratio = Number((oursMedian / theirsMedian).toFixed(2));
log(`ours ${oursMedian}/s, dns-packet ${theirsMedian}/s: ${ratio}x (sink ${sink})`);

console.log(
  JSON.stringify({
    bench: 'dns-codec',
    query_answer_per_s: oursMedian,
    dns_packet_query_answer_per_s: theirsMedian,
    ratio,
    decode_query_per_s: Math.round(median(decodeRates)),
    encode_response_per_s: Math.round(median(encodeRates)),
    decode_response_per_s: Math.round(median(responseRates)),
    response_bytes: sample.length,
    rounds: ROUNDS,
  }),
);
