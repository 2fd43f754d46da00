import t from 'tap';
import {
  defaultLanConfig,
  defaultLocalConfig,
  defaultWanConfig,
  intervalScale,
  retransmitLimit,
  suspicionMaxMs,
  suspicionMinMs,
  validateGossipConfig,
} from '../../../src/gossip/config.ts';
import { isShoalError } from '../../../src/common/errors.ts';

t.test('the three profiles validate and are frozen', async (t) => {
  for (const [name, c] of [
    ['lan', defaultLanConfig()],
    ['wan', defaultWanConfig()],
    ['local', defaultLocalConfig()],
  ] as const) {
    t.same(validateGossipConfig({}, c), c, `${name} is valid`);
    t.ok(Object.isFrozen(c), `${name} is frozen`);
  }
  const v = validateGossipConfig({ gossipNodes: 4 });
  t.ok(Object.isFrozen(v));
  t.equal(v.gossipNodes, 4);
  t.equal(v.probeIntervalMs, defaultLanConfig().probeIntervalMs, 'unset fields come from the LAN profile');
  t.ok(defaultWanConfig().probeIntervalMs > defaultLanConfig().probeIntervalMs);
  t.ok(defaultLocalConfig().probeIntervalMs < defaultLanConfig().probeIntervalMs);
});

t.test('validation reports every problem at once', async (t) => {
  try {
    validateGossipConfig({
      probeIntervalMs: 100,
      probeTimeoutMs: 200,
      gossipNodes: 0,
      retransmitMult: 1.5,
      packetBytes: Number.NaN,
      bogus: 1,
    } as never);
    t.fail('should throw');
  } catch (err) {
    t.ok(isShoalError(err, 'SHOAL_ERR_INVALID_CONFIG'));
    const problems = (err as { details: { problems: string[] } }).details.problems;
    t.ok(
      problems.some((p) => p.includes('probeTimeoutMs')),
      'timeout vs interval',
    );
    t.ok(
      problems.some((p) => p.includes('gossipNodes')),
      'range',
    );
    t.ok(
      problems.some((p) => p.includes('retransmitMult') && p.includes('integer')),
      'integer',
    );
    t.ok(
      problems.some((p) => p.includes('packetBytes')),
      'finite',
    );
    t.ok(
      problems.some((p) => p.includes('unknown field bogus')),
      'unknown field',
    );
    t.ok(problems.length >= 5);
  }
});

t.test('derived quantities', async (t) => {
  t.equal(retransmitLimit(4, 1), 4);
  t.equal(retransmitLimit(4, 9), 4);
  t.equal(retransmitLimit(4, 10), 8, 'ceil(log10(11)) = 2');
  t.equal(retransmitLimit(4, 1000), 16, 'ceil(log10(1001)) = 4');
  t.equal(intervalScale(32), 1);
  t.equal(intervalScale(33), 2);
  t.equal(intervalScale(64), 2);
  t.equal(intervalScale(65), 3);
  t.equal(intervalScale(1000), 6);
  const c = defaultLanConfig();
  t.equal(suspicionMinMs(c, 5), c.suspicionMult * c.probeIntervalMs, 'log10 floored at 1');
  t.equal(suspicionMinMs(c, 1000), c.suspicionMult * 3 * c.probeIntervalMs);
  t.equal(suspicionMaxMs(c, 1000), c.suspicionMaxTimeoutMult * suspicionMinMs(c, 1000));
});
