/**
 * @module workers/runtime
 *
 * Everything one worker's connections share: the table view, target groups,
 * upstream pool, the coarse clock and the set of live downstream connections
 * that the tick walks for deadlines. Thread: worker. Made once by
 * workers/entry.ts.
 *
 * One coarse tick per worker (TICK_MS) advances `nowMs` and checks every
 * connection's single deadline, instead of one timer per request (H5: undici
 * fast timers, pingora-timeout). A deadline can therefore fire up to TICK_MS
 * late, which is fine for second-scale timeouts.
 */
import type { Logger } from 'pino';
import {
  HEADER_DRAINING,
  loadHeader,
  storeWorker,
  type TableView,
  WORKER_ACTIVE_CONNECTIONS,
  WORKER_HEARTBEAT_MS,
} from '../proto/table-layout.ts';
import type { Topology } from '../proto/thread-messages.ts';
import { clockMs } from '../src/shared/clock.ts';
import { TICK_MS } from '../src/shared/limits.ts';
import { Observer } from './record/index.ts';
import { Router, TargetGroups } from './route/index.ts';
import { UpstreamTlsContexts } from './tls/index.ts';
import { HttpPools, RetryBudget, SocketPool } from './upstream/index.ts';

/** A downstream connection as the runtime sees it. */
export interface LiveConnection {
  /** Check the connection's deadline against the coarse clock. */
  tick(nowMs: number): void;
  /** Finish the current exchange (if any), then close. */
  drain(): void;
}

/** Something else the tick walks: a UDP listener's flow table (idle expiry). */
export interface Ticker {
  tick(nowMs: number): void;
}

export class WorkerRuntime {
  readonly view: TableView;
  readonly workerIndex: number;
  readonly groups: TargetGroups;
  /** Compiled listener rules, weighted forwards and stickiness (workers/route/router.ts). */
  readonly router: Router;
  readonly pool: SocketPool;
  /** TLS options per HTTPS target group (workers/tls), for the pool's connects. */
  readonly upstreamTls: UpstreamTlsContexts;
  /** undici Pools per slot for HTTP/2 downstream streams (workers/upstream/http-pool.ts). */
  readonly httpPools: HttpPools;
  readonly log: Logger;
  /** Retries on another target in flight vs requests in flight (workers/upstream/retry-budget.ts). */
  readonly retryBudget: RetryBudget;
  readonly clockOriginS: number;
  readonly connections: Set<LiveConnection>;
  /** Flow tables and other per-listener state with deadlines (not connections: drain does not wait for them). */
  readonly tickers: Set<Ticker>;
  /** Record phase shared state: listener counters, access log, tracer (workers/record). */
  readonly observer: Observer;
  /** Coarse table clock, advanced every tick. */
  nowMs: number;
  isDraining: boolean;
  /** Starts this worker's drain (workers/entry.ts); the tick calls it when main sets HEADER_DRAINING. */
  onDrainRequested: (() => void) | null;
  private timer: NodeJS.Timeout | null;

  constructor(view: TableView, workerIndex: number, topology: Topology, clockOriginS: number, log: Logger) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.clockOriginS = clockOriginS;
    this.log = log;
    this.groups = new TargetGroups(view, workerIndex, topology);
    this.router = new Router(view, this.groups, topology);
    this.pool = new SocketPool(view, workerIndex);
    this.upstreamTls = new UpstreamTlsContexts(log);
    this.httpPools = new HttpPools(view, workerIndex);
    this.retryBudget = new RetryBudget();
    this.connections = new Set();
    this.tickers = new Set();
    this.observer = new Observer(view, workerIndex, topology.listeners, log);
    this.nowMs = clockMs(clockOriginS);
    this.isDraining = false;
    this.onDrainRequested = null;
    this.timer = null;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.groups.watchGeneration();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.groups.unwatchGeneration();
  }

  /** Fresh table-clock reading (for deadlines set mid-tick). */
  readClock(): number {
    this.nowMs = clockMs(this.clockOriginS);
    return this.nowMs;
  }

  add(connection: LiveConnection): void {
    this.connections.add(connection);
    storeWorker(this.view, this.workerIndex, WORKER_ACTIVE_CONNECTIONS, this.connections.size);
  }

  remove(connection: LiveConnection): void {
    this.connections.delete(connection);
    storeWorker(this.view, this.workerIndex, WORKER_ACTIVE_CONNECTIONS, this.connections.size);
  }

  private tick(): void {
    const nowMs = this.readClock();
    storeWorker(this.view, this.workerIndex, WORKER_HEARTBEAT_MS, nowMs);
    this.groups.observe();
    // `ferryctl drain` is one store in the table; every worker starts draining on its next tick.
    if (!this.isDraining && loadHeader(this.view, HEADER_DRAINING) === 1) this.onDrainRequested?.();
    this.pool.sweep(nowMs);
    for (const connection of this.connections) connection.tick(nowMs);
    for (const ticker of this.tickers) ticker.tick(nowMs);
  }
}
