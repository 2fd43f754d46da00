/**
 * src/overlay: VXLAN overlays on one node. The pure planner (plan.ts: model -> desired
 * kernel state per namespace), the reader, diff and applier behind OverlayKernel, the
 * syncer the agent runs, doctor's text, and the endpoint record agents gossip.
 * README.md has the packet flow and the names.
 */
export type { OverlayModel, OverlayNetwork, RemoteEndpoint, SandboxAttachment, SandboxModel } from './model.ts';
export { planOverlay, overlayMtu, vxlanOptions, VXLAN_OVERHEAD } from './plan.ts';
export { planEgressTable } from './plan-egress.ts';
export * from './names.ts';
export {
  desiredText,
  itemKey,
  itemText,
  netnsLabel,
  nsDesiredLines,
  type DesiredLink,
  type DesiredNftTable,
  type DesiredSysctl,
  type LinkCreate,
  type NsDesired,
  type NsRole,
  type OverlayDesired,
  type OverlayItem,
  type OverlayItemType,
  type OverlayProblem,
} from './objects.ts';
export { readOverlayActual, emptyNsActual, HOST_SYSCTLS, type NsActual, type OverlayActual } from './actual.ts';
export { changePhase, diffOverlay, formatChanges, orderChanges, type ChangeKind, type OverlayChange } from './diff.ts';
export { applyOverlay, APPLY_CONCURRENCY, type AppliedOp, type ApplyReport, type FailedOp } from './applier.ts';
export { OverlaySyncer, syncFailure, type OverlaySyncerOptions, type SyncReport } from './syncer.ts';
export {
  composeOverlayKernel,
  createOverlayKernel,
  realOverlayKernel,
  type OverlayKernel,
  type OverlayKernelParts,
} from './overlay-kernel.ts';
export { createFakeOverlayKernel, type FakeOverlayKernel } from './fake-overlay-kernel.ts';
export { dumpOverlay } from './state-dump.ts';
export {
  decodeEndpointRecord,
  encodeEndpointRecord,
  endpointRecord,
  ENDPOINT_RECORD_FIELDS,
  type EndpointRecord,
} from './endpoint-record.ts';
export { OVERLAY_ERRORS, overlayError, type OverlayErrorCode } from './errors.ts';
