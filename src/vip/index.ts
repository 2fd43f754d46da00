/**
 * src/vip: the east-west service load balancer of one sandbox, on nftables. The pure
 * planner (plan.ts: model -> one table; table-state.ts: canonical text, rewrite and
 * element-delta transactions), and the syncer the agent runs (apply.ts: full and
 * incremental syncs, conntrack cleanup, doctor). README.md has the packet flow, the
 * layout's reasons and its measurements.
 */
export type { VipBackend, VipModel, VipPort, VipService } from './model.ts';
export { VIP_ERRORS, vipError, type VipErrorCode } from './errors.ts';
export {
  anyPortKey,
  backendKey,
  backendsMapName,
  claimOf,
  claimsOf,
  CHAIN_OUTPUT,
  CHAIN_PREROUTING,
  CHAIN_REFUSE,
  emptyVipState,
  EVERY_PORT,
  isValidTableName,
  MAP_BACKENDS_ANY,
  MAP_SERVICES,
  MAP_SERVICES_ANY,
  modelChanges,
  parseBackendKey,
  parsePickAnyChain,
  parsePickChain,
  pickAnyChain,
  pickAnyChainName,
  pickChain,
  pickChainName,
  planService,
  planVip,
  ServiceIndex,
  serviceRows,
  emitRows,
  SET_VIPS,
  sortProblems,
  VIP_FAMILY,
  VIP_PROTOCOLS,
  VipPlanner,
  type ElementRow,
  type ModelChanges,
  type PlannedPort,
  type PlannerDelta,
  type ServicePlan,
  type VipPlan,
  type VipProblem,
  type VipProtocol,
} from './plan.ts';
export {
  applyDelta,
  canonicalOfState,
  deltaCounts,
  deltaIsEmpty,
  deltaScript,
  diffStates,
  ELEMENTS_PER_STATEMENT,
  emptyDelta,
  rewriteScript,
  stateFromCanonical,
  type NftTableState,
  type StateChain,
  type StateSet,
  type TableDelta,
} from './table-state.ts';
export { DOCTOR_MAX_LINES, doctorLines, VipSyncer, type VipFailure, type VipReport, type VipSyncerOptions } from './apply.ts';
