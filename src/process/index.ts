// Process control, used by qemu, the store, doctor and the files commands alike: a process's
// identity (PID + start ticks), stopping one exactly, which process listens on a port, and the
// owner tag every child carries.

export { processStartTicks, isProcessAlive } from './process-identity.js';
export { terminateProcess, signalProcess, waitForExit, type TerminateOutcome } from './terminate-process.js';
export { processListensOn } from './listening-socket.js';
