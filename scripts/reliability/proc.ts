// What the kernel says about a process: resident memory and open file descriptors, read from
// /proc/<pid> (Linux). The scenarios read the echod child's figures here, not its own metrics,
// so a server that lies about itself (or is too busy to answer) is still measured.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const KIB = 1024;

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * KIB;
}

/** Resident set size now, in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** Open file descriptors now (the entries of /proc/<pid>/fd, as `ls /proc/<pid>/fd | wc -l`). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Watches a process's resident memory over a stretch of time: the peak is the larger of what
 * periodic samples saw and the kernel's own high-water mark (VmHWM), which is reset at the
 * start so that it covers exactly this stretch and catches spikes between samples.
 */
export class MemoryWatch {
  readonly pid: number;
  readonly beforeBytes: number;
  private sampledPeak: number;
  /** The last reading that succeeded (the process may have exited since). */
  private lastBytes: number;
  private readonly kernelPeak: boolean;
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, sampleEveryMs = 100) {
    this.pid = pid;
    this.beforeBytes = rssBytes(pid);
    this.sampledPeak = this.beforeBytes;
    this.lastBytes = this.beforeBytes;
    this.kernelPeak = resetPeak(pid);
    this.timer = setInterval(() => this.sample(), sampleEveryMs);
    this.timer.unref();
  }

  /** The highest resident size seen since the watch began. */
  get peakBytes(): number {
    this.sample();
    const hwm = this.kernelPeak ? safe(() => statusField(this.pid, 'VmHWM')) : 0;
    return Math.max(this.sampledPeak, hwm);
  }

  /** Stops sampling; returns before, peak, and now (or the last reading, if the process has exited). */
  stop(): { beforeBytes: number; peakBytes: number; afterBytes: number } {
    const peakBytes = this.peakBytes;
    clearInterval(this.timer);
    return { beforeBytes: this.beforeBytes, peakBytes, afterBytes: this.lastBytes };
  }

  private sample(): void {
    const now = safe(() => rssBytes(this.pid));
    if (now === 0) return;
    this.lastBytes = now;
    this.sampledPeak = Math.max(this.sampledPeak, now);
  }
}

/** Resets the kernel's peak-RSS mark (Linux ≥ 4.0: write 5 to clear_refs); false if refused. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A process that has just exited has no /proc entry: count that as 0 rather than throwing. */
function safe(read: () => number): number {
  try {
    return read();
  } catch {
    return 0;
  }
}
