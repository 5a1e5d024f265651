/**
 * @module bench/e2e/children
 *
 * Spawns, pins, measures and stops the processes of the end-to-end bench:
 * the NGINX targets, the proxy under test, wrk and curl. Thread: the bench's
 * main thread, outside Ferry. Place in the flow: the harness layer under
 * `bench/e2e/http.ts`.
 *
 * Why it exists: every process the bench starts must die with it (also on an
 * error or Ctrl-C), and a proxy's CPU time must be read from /proc for its
 * whole process group (NGINX master plus workers; HAProxy and Ferry are one
 * process each, their threads are summed by the kernel in /proc/<pid>/stat).
 * Each child is spawned `detached`, so it leads its own process group and a
 * signal to `-pid` reaches every process it forked.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/** A process the bench started, with its own process group. */
export type BenchChild = {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<string>;
  /** Null while the process runs. */
  exitStatus: string | null;
};

const liveChildren = new Set<BenchChild>();

/** Time a child gets to exit after SIGTERM before its group gets SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS_PER_S = readClockTicksPerS();

function readClockTicksPerS(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number.parseInt(result.stdout ?? '', 10);
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

/**
 * Starts `argv` in its own process group, optionally pinned with
 * `taskset -c <cpuList>`; stdout and stderr go to `logPath`.
 * Does not wait for readiness. Never throws for a missing binary: the child
 * then exits at once and `exited` tells why.
 */
export function startChild(
  name: string,
  argv: readonly string[],
  options: { readonly cpuList: string | null; readonly logPath: string; readonly cwd?: string },
): BenchChild {
  const fullArgv = options.cpuList === null ? [...argv] : ['taskset', '-c', options.cpuList, ...argv];
  const logFd = openSync(options.logPath, 'a');
  const child = spawn(fullArgv[0]!, fullArgv.slice(1), {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  closeSync(logFd);
  let resolveExited: (status: string) => void = () => {};
  const exited = new Promise<string>((resolve) => {
    resolveExited = resolve;
  });
  const benchChild: BenchChild = {
    name,
    pid: child.pid ?? -1,
    logPath: options.logPath,
    process: child,
    exited,
    exitStatus: null,
  };
  const onGone = (status: string): void => {
    if (benchChild.exitStatus !== null) return;
    benchChild.exitStatus = status;
    liveChildren.delete(benchChild);
    resolveExited(status);
  };
  child.on('exit', (code, signal) => onGone(signal === null ? `exit code ${code}` : `signal ${signal}`));
  child.on('error', (error) => onGone(`spawn error: ${error.message}`));
  if (child.pid !== undefined) liveChildren.add(benchChild);
  return benchChild;
}

/** Runs `argv` to completion (optionally pinned) and returns its stdout and stderr. */
export async function runToCompletion(
  name: string,
  argv: readonly string[],
  options: { readonly cpuList: string | null; readonly timeoutMs: number },
): Promise<{ readonly stdout: string; readonly stderr: string; readonly status: string }> {
  const fullArgv = options.cpuList === null ? [...argv] : ['taskset', '-c', options.cpuList, ...argv];
  const child = spawn(fullArgv[0]!, fullArgv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  let resolveExited: (status: string) => void = () => {};
  const exited = new Promise<string>((resolve) => {
    resolveExited = resolve;
  });
  const benchChild: BenchChild = {
    name,
    pid: child.pid ?? -1,
    logPath: '',
    process: child,
    exited,
    exitStatus: null,
  };
  const onGone = (status: string): void => {
    if (benchChild.exitStatus !== null) return;
    benchChild.exitStatus = status;
    liveChildren.delete(benchChild);
    resolveExited(status);
  };
  // 'close' (not 'exit') so that all piped output has been read.
  child.on('close', (code, signal) => onGone(signal === null ? `exit code ${code}` : `signal ${signal}`));
  child.on('error', (error) => onGone(`spawn error: ${error.message}`));
  if (child.pid !== undefined) liveChildren.add(benchChild);
  const timer = setTimeout(() => signalGroup(benchChild, 'SIGKILL'), options.timeoutMs);
  const status = await exited;
  clearTimeout(timer);
  return {
    stdout: Buffer.concat(stdoutChunks).toString('utf8'),
    stderr: Buffer.concat(stderrChunks).toString('utf8'),
    status,
  };
}

function signalGroup(child: BenchChild, signal: NodeJS.Signals): void {
  if (child.pid <= 0) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** SIGTERM to the child's group, then SIGKILL after a grace period. Resolves when it is gone. */
export async function stopChild(child: BenchChild): Promise<void> {
  if (child.exitStatus !== null) return;
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
  await child.exited;
  clearTimeout(timer);
  // Forked helpers (NGINX workers) may outlive a master that died first.
  signalGroup(child, 'SIGKILL');
}

/** Synchronous last resort for `process.on('exit')` and signals: SIGKILL every live group. */
export function killAllChildrenSync(): void {
  for (const child of liveChildren) signalGroup(child, 'SIGKILL');
  liveChildren.clear();
}

// === /proc ===

type ProcStat = { readonly pid: number; readonly processGroupId: number; readonly cpuTicks: number };

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
  const processGroupId = Number(fields[2]);
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return { pid, processGroupId, cpuTicks: userTicks + systemTicks };
}

/** Every pid in the child's process group (the child itself, NGINX workers, …). */
export function listGroupPids(child: BenchChild): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readProcStat(pid);
    if (stat !== null && stat.processGroupId === child.pid) pids.push(pid);
  }
  return pids;
}

/** User plus system CPU time of the child's whole process group, in clock ticks. */
export function readGroupCpuTicks(child: BenchChild): number {
  let ticks = 0;
  for (const pid of listGroupPids(child)) ticks += readProcStat(pid)?.cpuTicks ?? 0;
  return ticks;
}

/** Re-pins every thread of every process in the child's group to `cpuList` (taskset -a -p). */
export function pinGroup(child: BenchChild, cpuList: string): void {
  for (const pid of listGroupPids(child)) {
    spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
  }
}

/** Last `lineCount` lines of a child's log, joined with " | ", for error messages. */
export function tailLog(child: BenchChild, lineCount: number): string {
  let text: string;
  try {
    text = readFileSync(child.logPath, 'utf8');
  } catch {
    return '';
  }
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return lines.slice(-lineCount).join(' | ');
}
