/**
 * @module workers/upstream/exchange
 *
 * One exchange per downstream request (an HTTP/1.1 request, an HTTP/2
 * stream) or flow (a TCP connection), whatever the protocol: it holds what
 * the pick chose (slot, target, the group that served, why, the stickiness
 * cookies to set), the serving group's deadlines, and the in-flight count,
 * taken and dropped exactly once here and nowhere else. Thread: worker.
 * Place in the flow: route -> **pick** (writes into it) -> **connect**
 * (take) -> forward -> relay -> **finish** (drop).
 *
 *   reset() ──> Router.pick(exchange, …) ──> take() ──> recordOutcome(status) ──> drop()
 *   (new request)   slot, target, group,        TARGET_IN_FLIGHT +1     latency, status,       -1, once,
 *                   pickKind, cookies           ledger +1, clock        EWMA (workers/record)  whatever the path
 *
 * Protocols differ only in how they frame bytes (workers/l7, workers/l7/h2,
 * workers/l4); an HTTP/1.1 connection reuses one exchange for its requests
 * (preallocated, STYLE H6), an HTTP/2 stream or a TCP flow has its own.
 */
import {
  addLedger,
  addTarget,
  LEDGER_IN_FLIGHT,
  NO_SLOT,
  TARGET_IN_FLIGHT,
  type TableView,
} from '../../proto/table-layout.ts';
import type { TopologyGroup, TopologyRetries, TopologyTarget } from '../../proto/thread-messages.ts';
import { monoUs } from '../../src/shared/clock.ts';
import {
  RETRIES_DEFAULT,
  UPSTREAM_CONNECT_TIMEOUT_MS,
  UPSTREAM_RESPONSE_TIMEOUT_MS,
} from '../../src/shared/limits.ts';
import { recordExchange } from '../record/index.ts';
import { ExchangeCookies, PICK_NONE, type PickOutcome, STICKY_NONE } from '../route/index.ts';

export class Exchange implements PickOutcome {
  private readonly view: TableView;
  private readonly workerIndex: number;
  slot: number;
  target: TopologyTarget | null;
  group: TopologyGroup | null;
  pickKind: number;
  stickyOutcome: number;
  readonly cookies: ExchangeCookies;
  /** True between take() and drop(): this exchange holds one TARGET_IN_FLIGHT on `slot`. */
  private isInFlight: boolean;
  /** monoUs() at take(): the latency clock of recordOutcome. */
  private dispatchUs: number;

  constructor(view: TableView, workerIndex: number) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.slot = NO_SLOT;
    this.target = null;
    this.group = null;
    this.pickKind = PICK_NONE;
    this.stickyOutcome = STICKY_NONE;
    this.cookies = new ExchangeCookies();
    this.isInFlight = false;
    this.dispatchUs = 0;
  }

  /** Forget the previous request's pick (the next request on a keep-alive connection). Allocates nothing. */
  reset(): void {
    this.slot = NO_SLOT;
    this.target = null;
    this.group = null;
    this.pickKind = PICK_NONE;
    this.stickyOutcome = STICKY_NONE;
    this.cookies.reset();
  }

  /** Connect timeout of the group that serves (UPSTREAM_CONNECT_TIMEOUT_MS before a pick). */
  get connectTimeoutMs(): number {
    return this.group?.connectTimeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS;
  }

  /** Retries of the group that serves (RETRIES_DEFAULT before a pick or when the topology says nothing). */
  get retries(): TopologyRetries {
    return this.group?.retries ?? RETRIES_DEFAULT;
  }

  /** Response timeout of the group that serves (UPSTREAM_RESPONSE_TIMEOUT_MS before a pick). */
  get responseTimeoutMs(): number {
    return this.group?.responseTimeoutMs ?? UPSTREAM_RESPONSE_TIMEOUT_MS;
  }

  /**
   * Count this exchange in flight on its slot (and this worker's ledger, which
   * the supervisor subtracts if the worker dies) and start its latency clock.
   * Idempotent: a retry on a new connection stays the same exchange.
   * Precondition: a slot was picked.
   */
  take(): void {
    if (this.isInFlight) return;
    this.isInFlight = true;
    addTarget(this.view, this.slot, TARGET_IN_FLIGHT, 1);
    addLedger(this.view, this.workerIndex, this.slot, LEDGER_IN_FLIGHT, 1);
    this.dispatchUs = monoUs();
  }

  /** Drop the in-flight count, exactly once whatever the path (success, failure, abort, timeout). */
  drop(): void {
    if (!this.isInFlight) return;
    this.isInFlight = false;
    addTarget(this.view, this.slot, TARGET_IN_FLIGHT, -1);
    addLedger(this.view, this.workerIndex, this.slot, LEDGER_IN_FLIGHT, -1);
  }

  /**
   * Count the target's answer (workers/record recordExchange): its status
   * (RECORD_STATUS_* for a failure or a TCP connect) and the latency since
   * take(). Precondition: a slot was picked.
   */
  recordOutcome(statusCode: number, nowMs: number): void {
    recordExchange(this.view, this.slot, statusCode, monoUs() - this.dispatchUs, nowMs);
  }
}
