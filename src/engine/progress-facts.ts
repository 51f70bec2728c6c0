// What a transfer's progress events add up to: per disk and in total, bytes done of bytes to
// do, throughput, elapsed time and ETA — the same facts for the terminal and for plain lines.

import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';

interface DiskProgress {
  readonly bytesDone: number;
  readonly bytesToDo: number;
}

export class ProgressFacts {
  private readonly disks = new Map<number, DiskProgress>();
  private started = 0;

  constructor(private readonly now: () => number = Date.now) {}

  // A new step: its progress starts from nothing.
  reset(): void {
    this.disks.clear();
    this.started = 0;
  }

  update(event: { readonly disk: number; readonly bytesDone: number; readonly bytesToDo: number }): void {
    if (this.started === 0) this.started = this.now();
    this.disks.set(event.disk, { bytesDone: event.bytesDone, bytesToDo: event.bytesToDo });
  }

  get diskKeys(): number[] {
    return [...this.disks.keys()];
  }

  // "disk 2000: 134 MiB / 136 MiB (98%)"
  diskLine(key: number): string {
    const disk = this.disks.get(key);
    return disk ? `disk ${key}: ${doneOf(disk)}` : `disk ${key}`;
  }

  // "total: 268 MiB / 272 MiB (98%), 45.2 MiB/s, 0:06 elapsed, ETA 0:01"
  totalLine(): string {
    return `total: ${doneOf(this.total())}, ${this.pace()}`;
  }

  // "45.2 MiB/s, 0:06 elapsed, ETA 0:01" of all disks together.
  pace(): string {
    const total = this.total();
    const seconds = this.started === 0 ? 0 : (this.now() - this.started) / 1000;
    const rate = seconds > 0 ? total.bytesDone / seconds : 0;
    const remaining = total.bytesToDo - total.bytesDone;
    const eta = remaining <= 0 ? '0:00' : rate > 0 ? formatDuration(remaining / rate) : '?';
    return `${formatBytes(Math.round(rate))}/s, ${formatDuration(seconds)} elapsed, ETA ${eta}`;
  }

  // The lines of the terminal view: each disk, then the total (one disk: one line with the pace).
  lines(): string[] {
    if (this.disks.size === 0) return [];
    if (this.disks.size === 1) return [`${this.diskLine(this.diskKeys[0])}, ${this.pace()}`];
    return [...this.diskKeys.map((key) => this.diskLine(key)), this.totalLine()];
  }

  // Whole percent done of one disk (or of all, without a key).
  percent(key?: number): number {
    const of = key === undefined ? this.total() : this.disks.get(key);
    return of ? percentOf(of) : 0;
  }

  private total(): DiskProgress {
    let bytesDone = 0;
    let bytesToDo = 0;
    for (const disk of this.disks.values()) {
      bytesDone += disk.bytesDone;
      bytesToDo += disk.bytesToDo;
    }
    return { bytesDone, bytesToDo };
  }
}

// Rounded down, so 99.9% done never shows as 100%.
function percentOf(progress: DiskProgress): number {
  return progress.bytesToDo === 0 ? 100 : Math.floor((progress.bytesDone / progress.bytesToDo) * 100);
}

function doneOf(progress: DiskProgress): string {
  return `${formatBytes(progress.bytesDone)} / ${formatBytes(progress.bytesToDo)} (${percentOf(progress)}%)`;
}
