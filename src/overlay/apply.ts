/**
 * The apply side of the overlay in one import: the kernel view (overlay-kernel.ts), the
 * reader (actual.ts), the diff and doctor text (diff.ts), the applier (applier.ts) and
 * the syncer that runs them (syncer.ts).
 */
export { readOverlayActual, type NsActual, type OverlayActual } from './actual.ts';
export { applyOverlay, APPLY_CONCURRENCY, type AppliedOp, type ApplyReport, type FailedOp } from './applier.ts';
export { changePhase, diffOverlay, formatChanges, type ChangeKind, type OverlayChange } from './diff.ts';
export {
  composeOverlayKernel,
  createOverlayKernel,
  realOverlayKernel,
  type OverlayKernel,
  type OverlayKernelParts,
} from './overlay-kernel.ts';
export { OverlaySyncer, syncFailure, type OverlaySyncerOptions, type SyncReport } from './syncer.ts';
