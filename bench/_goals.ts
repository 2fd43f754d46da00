/**
 * The one table of benchmark figures that the project holds itself to: for every figure an
 * issue asked for, which bench prints it, its unit, its goal (if the issue set one), what it
 * is compared with and where that reference comes from, and what the figure means. The
 * report (bench/results/<date>.md) and docs/PERFORMANCE.md are generated from this table by
 * bench/_report.ts; edit the table, never the generated files. (`_` keeps scripts/bench from
 * running this file.)
 *
 * A goal is `<op> <number>` with op one of <, <=, >, >=, ==, compared with the figure in its
 * unit. A reference is either another figure of the same bench, measured in the same run
 * (`referenceFigure`: a ratio's denominator), or a figure from outside this machine that the
 * issue quotes (said in `reference`), or nothing (an absolute goal).
 */

/** One benchmark program, bench/<name>.ts. */
export interface BenchInfo {
  readonly name: string;
  /** What it measures, one sentence. */
  readonly what: string;
  /** The environment knobs that size it, with their defaults (what the full run uses). */
  readonly knobs: string;
  /** Wall-clock seconds after which the runner ends it and records it as timed out. */
  readonly timeoutS: number;
}

/** One figure of the report. */
export interface FigureSpec {
  readonly bench: string;
  /** The key in the bench's JSON line. */
  readonly figure: string;
  readonly unit: string;
  /** `<op> <number>`, in `unit`; absent: the issue asked for the figure but set no goal. */
  readonly goal?: string;
  /** A figure of the same bench that this one is measured against in the same run. */
  readonly referenceFigure?: string;
  /** How the reference is obtained; '' for an absolute goal or a plain figure. */
  readonly reference: string;
  /** The issue that asked for the figure. */
  readonly issue: number;
  /** What the figure means and how it is measured. */
  readonly meaning: string;
  /** A key of the same JSON line that says why, when the bench reports the figure as null. */
  readonly whyMissing?: string;
}

export const BENCHES: readonly BenchInfo[] = [
  {
    name: 'cli',
    what: 'cold starts of the compiled `shoal` command against `node -e 0`, with a real manager for `network ls`',
    knobs: 'SHOAL_BENCH_RUNS (20 cold starts per command)',
    timeoutS: 180,
  },
  {
    name: 'dns',
    what: "the embedded resolver against dnsmasq under dnsperf in one namespace, and a new task's name resolving on another host of a 2-host testbed",
    knobs:
      'SHOAL_BENCH_ROUNDS (5 max-rate rounds), SHOAL_BENCH_DNS_SECONDS (4 per dnsperf run), SHOAL_BENCH_DNS_LATENCY_ROUNDS (3), SHOAL_BENCH_DNS_ROUNDS (20 new tasks)',
    timeoutS: 420,
  },
  {
    name: 'dns-codec',
    what: "the resolver's wire codec (decode a query, build and encode the answer) against the dns-packet package",
    knobs: 'BENCH_ROUNDS (7), BENCH_ROUND_MS (400 per codec per round)',
    timeoutS: 120,
  },
  {
    name: 'gossip',
    what: 'SWIM membership and table dissemination: virtual-time simulations of 1,000-10,000 nodes, and 100 nodes on real loopback sockets',
    knobs: 'BENCH_GOSSIP_COLD_NODES (1000,2000,10000), BENCH_GOSSIP_COLD_HEAP_MB (3072), BENCH_GOSSIP_COLD_WALL_S (600)',
    timeoutS: 720,
  },
  {
    name: 'ipam',
    what: 'address and subnet allocation in process: sequential and fragmented patterns, heap per held address',
    knobs: 'BENCH_SEED (20260101)',
    timeoutS: 180,
  },
  {
    name: 'kernel',
    what: '1,000 fdb and 1,000 neighbour entries through src/kernel against iproute2 batch mode',
    knobs: 'SHOAL_BENCH_ROUNDS (5)',
    timeoutS: 120,
  },
  {
    name: 'manager',
    what: 'a real manager process over its unix socket: creating 10,000 networks and 100,000 tasks, service create latency, restart',
    knobs: 'BENCH_NETWORKS (10000), BENCH_SERVICES (100), BENCH_REPLICAS (1000), BENCH_LATENCY_SAMPLES (100 service creates)',
    timeoutS: 420,
  },
  {
    name: 'overlay',
    what: 'iperf3 over the overlay against a hand-built VXLAN path in a 3-host testbed, and scale-up convergence',
    knobs: 'SHOAL_BENCH_ROUNDS (3), SHOAL_BENCH_SECONDS (5 per iperf3 run), SHOAL_BENCH_SCALES (20 scale-ups)',
    timeoutS: 300,
  },
  {
    name: 'vip',
    what: 'the service load balancer on the real kernel at 10,000 and 5,000 services, and the routing mesh in a 3-host testbed',
    knobs:
      'SHOAL_BENCH_ROUNDS (15 one-change rounds), SHOAL_BENCH_VIP_PARTS (one,full,mesh), SHOAL_BENCH_MESH_ROUNDS (3), SHOAL_BENCH_MESH_SECONDS (5 per wrk run), SHOAL_BENCH_MESH_CONNECTIONS (32)',
    timeoutS: 480,
  },
];

const SAME_RUN = 'same run';

export const FIGURES: readonly FigureSpec[] = [
  // ------------------------------------------------------------------ kernel (issue 2)
  {
    bench: 'kernel',
    figure: 'fdb_neigh_2000_ms',
    unit: 'ms',
    reference: '',
    issue: 2,
    meaning:
      '1,000 fdb and 1,000 neighbour adds on a VXLAN device through src/kernel (netlink, pipelined), fresh namespace; median of the rounds',
  },
  {
    bench: 'kernel',
    figure: 'iproute2_batch_ms',
    unit: 'ms',
    reference: '',
    issue: 2,
    meaning:
      'the same 2,000 entries through `bridge -batch` and `ip -batch` on an identical device in another fresh namespace, rounds alternated with ours',
  },
  {
    bench: 'kernel',
    figure: 'ratio',
    unit: 'ratio',
    goal: '<= 3',
    referenceFigure: 'iproute2_batch_ms',
    reference: `iproute2 batch mode, same entries, ${SAME_RUN}`,
    issue: 2,
    meaning: 'fdb_neigh_2000_ms / iproute2_batch_ms',
  },
  // ------------------------------------------------------------------ ipam (issues 3, 8)
  {
    bench: 'ipam',
    figure: 'alloc_release_per_s_v4_16',
    unit: 'pairs/s',
    goal: '>= 1000000',
    reference: '',
    issue: 3,
    meaning:
      'allocate+release pairs per second in a /16 holding 30,000 addresses (take a new one, release the oldest), through the string API the manager uses',
  },
  {
    bench: 'ipam',
    figure: 'carve_65536_networks_ms',
    unit: 'ms',
    goal: '< 1000',
    reference: '',
    issue: 3,
    meaning:
      '65,536 networks created without a subnet, each carving a /24 from 10.0.0.0/8 (wall clock; carve_65536_networks_cpu_ms in the JSON is its CPU time)',
  },
  {
    bench: 'ipam',
    figure: 'alloc_per_s_v6_64',
    unit: 'allocs/s',
    reference: '',
    issue: 3,
    meaning: 'dynamic allocations per second in an IPv6 /64, 1,000,000 held at the end',
  },
  {
    bench: 'ipam',
    figure: 'alloc_per_s_v4_16',
    unit: 'allocs/s',
    reference: '',
    issue: 3,
    meaning: 'dynamic allocations per second in an empty IPv4 /16, taken in order: the reference for the /64',
  },
  {
    bench: 'ipam',
    figure: 'alloc_per_s_v6_64_over_v4_16',
    unit: 'ratio',
    goal: '>= 1',
    referenceFigure: 'alloc_per_s_v4_16',
    reference: `allocation in an IPv4 /16, ${SAME_RUN}`,
    issue: 3,
    meaning: 'alloc_per_s_v6_64 / alloc_per_s_v4_16: "/64 allocation as fast as /16"',
  },
  {
    bench: 'ipam',
    figure: 'heap_bytes_per_address',
    unit: 'B',
    goal: '< 50',
    reference: '',
    issue: 3,
    meaning:
      'heap growth (V8 heap and ArrayBuffer stores) for 100,000 held addresses, the worse of an IPv4 /14 and an IPv6 /64, divided by 100,000 (heap_bytes_per_100k in the JSON)',
  },
  {
    bench: 'ipam',
    figure: 'alloc_v4_16_holes_random_over_sequential',
    unit: 'ratio',
    reference: `allocation into an empty /16, ${SAME_RUN}`,
    issue: 8,
    meaning:
      'one allocation into the seeded-random holes of a full /16, over one into an empty range (above 1: fragmentation costs that much)',
  },
  {
    bench: 'ipam',
    figure: 'churn_v4_16_random_over_sequential',
    unit: 'ratio',
    reference: `FIFO churn in the same half-full /16, ${SAME_RUN}`,
    issue: 8,
    meaning: 'allocate+release in a half-full /16 releasing a random held address, over releasing the oldest',
  },
  {
    bench: 'ipam',
    figure: 'churn_v6_64_random_over_sequential',
    unit: 'ratio',
    reference: `FIFO churn in a /64 holding 500,000, ${SAME_RUN}`,
    issue: 8,
    meaning: 'the same churn in an IPv6 /64 holding 500,000 addresses',
  },
  {
    bench: 'ipam',
    figure: 'subnet_create_random_over_sequential',
    unit: 'ratio',
    reference: `carving into an empty pool, ${SAME_RUN}`,
    issue: 8,
    meaning: 'creating a network in a pool of 65,536 /24s after a seeded-random half was removed, over creating one in an empty pool',
  },
  // ------------------------------------------------------------------ gossip (issues 4, 8)
  {
    bench: 'gossip',
    figure: 'converge_ms_n1000_loss0',
    unit: 'ms',
    goal: '<= 2200',
    reference: "the Serf convergence model's figure for 1,000 nodes (2,200 ms; the issue's, not measured here)",
    issue: 4,
    meaning:
      'virtual time from one table write until 99.99% of the members hold it, 1,000 nodes, no loss, LAN profile (200 ms gossip interval, fanout 3); worst of 5 writes',
  },
  {
    bench: 'gossip',
    figure: 'converge_ms_n1000_loss10',
    unit: 'ms',
    goal: '<= 2600',
    reference: '',
    issue: 4,
    meaning: 'the same with 10% datagram loss',
  },
  {
    bench: 'gossip',
    figure: 'converge_ms_n10000_loss0',
    unit: 'ms',
    goal: '<= 3000',
    reference: '',
    issue: 4,
    meaning: 'the same at 10,000 nodes (from a formed membership: dissemination, not formation)',
  },
  {
    bench: 'gossip',
    figure: 'detect_ms_n1000',
    unit: 'ms',
    goal: '< 5000',
    reference: '',
    issue: 4,
    meaning: 'virtual time from killing one of 1,000 nodes (no leave) until every other node holds it dead; worst of 3 kills',
  },
  {
    bench: 'gossip',
    figure: 'false_positives_n1000_slow1pct',
    unit: 'nodes',
    goal: '== 0',
    reference: '',
    issue: 4,
    meaning: 'healthy nodes declared dead by anyone during 120 s in which 1% of 1,000 nodes handle every timer and datagram 2 s late',
  },
  {
    bench: 'gossip',
    figure: 'bytes_per_node_per_s_n1000',
    unit: 'B/s',
    reference: '',
    issue: 4,
    meaning: 'bytes sent per node per second (sealed size, streams included) over 6 virtual minutes with no writes, 1,000 nodes',
  },
  {
    bench: 'gossip',
    figure: 'converge_ms_n100_real_udp',
    unit: 'ms',
    reference: '',
    issue: 4,
    meaning:
      'wall-clock convergence of one write, 100 nodes on real loopback UDP/TCP with full encoding and AES-256-GCM; worst of 5 writes',
  },
  {
    bench: 'gossip',
    figure: 'cold_join_ms_n1000',
    unit: 'ms',
    reference: '',
    issue: 8,
    meaning: 'virtual time for 1,000 nodes starting at once, each knowing only 3 seeds, until every node holds all members alive',
    whyMissing: 'cold_join_n1000',
  },
  {
    bench: 'gossip',
    figure: 'cold_join_ms_n2000',
    unit: 'ms',
    reference: '',
    issue: 8,
    meaning: 'the same cold join with 2,000 nodes',
    whyMissing: 'cold_join_n2000',
  },
  {
    bench: 'gossip',
    figure: 'cold_join_ms_n10000',
    unit: 'ms',
    reference: '',
    issue: 8,
    meaning:
      'the same cold join with 10,000 nodes; not started when its heap estimate (bytes per node per member x N^2) exceeds BENCH_GOSSIP_COLD_HEAP_MB',
    whyMissing: 'cold_join_n10000',
  },
  // ------------------------------------------------------------------ manager (issues 5, 8)
  {
    bench: 'manager',
    figure: 'create_10k_networks_ms',
    unit: 'ms',
    reference: '',
    issue: 5,
    meaning: '10,000 `network create` calls (VXLAN ID and a /24 from the default pool each), 32 in flight',
  },
  {
    bench: 'manager',
    figure: 'create_100k_tasks_ms',
    unit: 'ms',
    reference: '',
    issue: 5,
    meaning: '100 `service create` calls of 1,000 replicas each on 10 /16 networks (VIP, addresses, MACs, scheduling), 4 in flight',
  },
  {
    bench: 'manager',
    figure: 'restart_ms_10k_networks_100k_tasks',
    unit: 'ms',
    goal: '< 2000',
    reference: '',
    issue: 5,
    meaning:
      'SIGKILL, then from spawning `shoal manager` until `network ls` returns all networks, `service ps` 1,000 tasks and a first `network create` (the IPAM rebuild) succeeds; median of 3',
  },
  {
    bench: 'manager',
    figure: 'create_service_p99_ms',
    unit: 'ms',
    reference: '',
    issue: 5,
    meaning:
      'p99 latency of one `service create` (3 replicas, ingress port) on the manager holding the state above, 100 calls in sequence (the p99 is the second slowest)',
  },
  // ------------------------------------------------------------------ cli (issue 8)
  {
    bench: 'cli',
    figure: 'node_ms',
    unit: 'ms',
    reference: '',
    issue: 8,
    meaning: '`node -e 0`, median of 20 cold starts: the reference for the ratios',
  },
  { bench: 'cli', figure: 'help_ms', unit: 'ms', reference: '', issue: 8, meaning: '`shoal --help`, median of 20 cold starts' },
  { bench: 'cli', figure: 'version_ms', unit: 'ms', reference: '', issue: 8, meaning: '`shoal version`, median of 20 cold starts' },
  {
    bench: 'cli',
    figure: 'ls_ms',
    unit: 'ms',
    reference: '',
    issue: 8,
    meaning: '`shoal network ls` against a running manager, median of 20 cold starts',
  },
  {
    bench: 'cli',
    figure: 'help_ratio',
    unit: 'ratio',
    goal: '<= 2',
    referenceFigure: 'node_ms',
    reference: `\`node -e 0\`, ${SAME_RUN}`,
    issue: 8,
    meaning: 'help_ms / node_ms',
  },
  {
    bench: 'cli',
    figure: 'ls_ratio',
    unit: 'ratio',
    goal: '<= 3',
    referenceFigure: 'node_ms',
    reference: `\`node -e 0\`, ${SAME_RUN}`,
    issue: 8,
    meaning: 'ls_ms / node_ms',
  },
  // ------------------------------------------------------------------ overlay (issue 9)
  {
    bench: 'overlay',
    figure: 'shoal_gbps',
    unit: 'Gbit/s',
    reference: '',
    issue: 9,
    meaning: 'iperf3, one TCP stream, task on h3 to task on h2 over the overlay shoal programmed; median of the rounds',
  },
  {
    bench: 'overlay',
    figure: 'reference_gbps',
    unit: 'Gbit/s',
    reference: '',
    issue: 9,
    meaning:
      'the same over a VXLAN path built by hand between two other namespaces on the same hosts (bridge, VXLAN, veth, static fdb and neighbour entries, MTU 1450), rounds alternated',
  },
  {
    bench: 'overlay',
    figure: 'throughput_ratio',
    unit: 'ratio',
    goal: '>= 0.95',
    referenceFigure: 'reference_gbps',
    reference: `hand-built VXLAN path, same testbed, ${SAME_RUN}`,
    issue: 9,
    meaning: 'shoal_gbps / reference_gbps',
  },
  {
    bench: 'overlay',
    figure: 'converge_p50_ms',
    unit: 'ms',
    reference: '',
    issue: 9,
    meaning: "median time from a scale-up call until every other host has the new endpoint's neighbour and fdb entries",
  },
  {
    bench: 'overlay',
    figure: 'converge_p99_ms',
    unit: 'ms',
    goal: '< 300',
    reference: '',
    issue: 9,
    meaning: 'p99 of the same, over the scale-ups',
  },
  // ------------------------------------------------------------------ vip (issue 10)
  {
    bench: 'vip',
    figure: 'one_change_ms_10k_services',
    unit: 'ms',
    goal: '< 50',
    referenceFigure: 'one_change_rewrite_ms_10k_services',
    reference: "the same change as a whole-table rewrite, same namespace and run; kube-proxy's nftables mode: 141 ms (the issue's figure)",
    issue: 10,
    meaning:
      'one backend of one service replaced with 10,000 services x 10 backends programmed: plan, nft element transaction, conntrack deletion; median of the rounds',
  },
  {
    bench: 'vip',
    figure: 'one_change_rewrite_ms_10k_services',
    unit: 'ms',
    reference: '',
    issue: 10,
    meaning: 'the same state written as one whole-table rewrite (what a table-per-sync design pays)',
  },
  {
    bench: 'vip',
    figure: 'full_sync_ms_5k_services_250k_backends',
    unit: 'ms',
    goal: '< 10000',
    reference: "kube-proxy: 2 to 20 minutes (the issue's figure, not measured here)",
    issue: 10,
    meaning: '5,000 services x 50 backends written by one full sync into a fresh namespace (plan, read back, one rewrite transaction)',
  },
  {
    bench: 'vip',
    figure: 'mesh_rps',
    unit: 'req/s',
    reference: '',
    issue: 10,
    meaning:
      'wrk keep-alive requests per second through the routing mesh, from outside to a host with no local replica; median of the rounds',
  },
  {
    bench: 'vip',
    figure: 'direct_rps',
    unit: 'req/s',
    reference: '',
    issue: 10,
    meaning: 'the same wrk against the same HTTP server run directly on that host, no mesh; rounds alternated',
  },
  {
    bench: 'vip',
    figure: 'mesh_rps_ratio',
    unit: 'ratio',
    goal: '>= 0.9',
    referenceFigure: 'direct_rps',
    reference: `the server reached directly, same load generator, ${SAME_RUN}`,
    issue: 10,
    meaning:
      'mesh_rps / direct_rps (on this machine bounded by direct_cpu_us_per_request / mesh_cpu_us_per_request: all hosts share 2 cores)',
  },
  {
    bench: 'vip',
    figure: 'scale_converge_p99_ms',
    unit: 'ms',
    goal: '< 300',
    reference: '',
    issue: 10,
    meaning: "p99, per new task and host, from the moment a scaled-up task listens until that host's ingress load balancer holds it",
  },
  // ------------------------------------------------------------------ dns (issue 11)
  {
    bench: 'dns',
    figure: 'shoal_qps',
    unit: 'queries/s',
    reference: '',
    issue: 11,
    meaning: "the most queries per second shoal's resolver answers, dnsperf unthrottled; median of the rounds",
  },
  {
    bench: 'dns',
    figure: 'dnsmasq_qps',
    unit: 'queries/s',
    reference: '',
    issue: 11,
    meaning: 'the same for dnsmasq serving the same records, rounds interleaved with shoal',
  },
  {
    bench: 'dns',
    figure: 'qps_ratio',
    unit: 'ratio',
    goal: '>= 0.7',
    referenceFigure: 'dnsmasq_qps',
    reference: `dnsmasq with the same records, same namespace, ${SAME_RUN}`,
    issue: 11,
    meaning: 'shoal_qps / dnsmasq_qps',
  },
  {
    bench: 'dns',
    figure: 'p99_ms',
    unit: 'ms',
    goal: '< 1',
    referenceFigure: 'dnsmasq_p99_ms',
    reference: `dnsmasq at the same rate, ${SAME_RUN}`,
    issue: 11,
    meaning: "shoal's p99 query latency at half of shoal_qps, servers on CPU 0 and dnsperf on CPU 1; median of 3 runs",
  },
  {
    bench: 'dns',
    figure: 'dnsmasq_p99_ms',
    unit: 'ms',
    reference: '',
    issue: 11,
    meaning: "dnsmasq's p99 measured the same way",
  },
  {
    bench: 'dns',
    figure: 'task_resolvable_p99_ms',
    unit: 'ms',
    goal: '< 300',
    reference: '',
    issue: 11,
    meaning: "p99 time from a new task's start until the other host's resolver answers its address in `tasks.web`, 2-host testbed",
  },
  // ------------------------------------------------------------------ dns-codec (issue 11)
  {
    bench: 'dns-codec',
    figure: 'query_answer_per_s',
    unit: 'queries/s',
    reference: '',
    issue: 11,
    meaning: "decode an A query, build the answer (two A records), encode it, with the resolver's codec; median of the rounds",
  },
  {
    bench: 'dns-codec',
    figure: 'dns_packet_query_answer_per_s',
    unit: 'queries/s',
    reference: '',
    issue: 11,
    meaning: 'the same work with the dns-packet package, rounds interleaved',
  },
  {
    bench: 'dns-codec',
    figure: 'ratio',
    unit: 'ratio',
    referenceFigure: 'dns_packet_query_answer_per_s',
    reference: `dns-packet, ${SAME_RUN}`,
    issue: 11,
    meaning: 'query_answer_per_s / dns_packet_query_answer_per_s: which codec the resolver keeps',
  },
];
