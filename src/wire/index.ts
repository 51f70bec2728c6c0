// What the hub and the node transfer say to each other: its request (argv) and its output lines.
// Here in src/ because both sides import it: the hub, and runners/ (esbuild bundles it into the transfer).

export {
  ARGS_ON_STDIN,
  argsOnStdinLine,
  nbdTargetsString,
  parseArgsOnStdinLine,
  parseTransferArgv,
  parseTransferTarget,
  transferTargetText,
  transferArgv,
  VSPHERE_COOKIE_ENV,
  type TransferCopy,
  type TransferDisk,
  type TransferImageFormat,
  type TransferRead,
  type TransferRequest,
  type TransferSource,
  type TransferTarget,
} from './transfer-request.js';
export {
  formatTransferLine,
  parseTransferLine,
  type DataRange,
  type DebugLine,
  type DigestsLine,
  type DiskOutcome,
  type DoneLine,
  type ErrorLine,
  type ProgressLine,
  type RateLine,
  type ResultLine,
  type StartLine,
  type TextLine,
  type TransferLine,
  type ZeroRange,
} from './transfer-lines.js';
export { formatControlLine, parseControlLine, type ControlLine } from './transfer-control.js';
export {
  CHECK_RESTORED,
  formatRestoredCheckLine,
  formatRestoredCheckRequest,
  parseRestoredCheckLine,
  parseRestoredCheckRequest,
  type RestoredCheckLine,
  type RestoredCheckRequest,
} from './restored-check.js';
