/**
 * @module src/telemetry/ring
 *
 * A fixed-size ring of numbers, oldest overwritten: the storage of every
 * per-second history the status page draws. Thread: main. Place in the flow:
 * collector tick (history.ts) -> **ring** -> status.ts (`toArray`).
 *
 * Why fixed: history is bounded by HISTORY_POINTS per series whatever the
 * uptime, so memory is known from the config (TigerStyle: every limit is
 * explicit).
 */
export class Ring {
  private readonly values: Float64Array;
  private head: number;
  private count: number;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.head = 0;
    this.count = 0;
  }

  push(value: number): void {
    this.values[this.head] = value;
    this.head = (this.head + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  /** The sum of the newest `count` values (fewer when fewer were pushed). Allocates nothing. */
  sumLast(count: number): number {
    const size = this.values.length;
    const taken = Math.min(count, this.count);
    let sum = 0;
    for (let i = 1; i <= taken; i++) sum += this.values[(this.head - i + size) % size]!;
    return sum;
  }

  /** Oldest first, rounded to 3 decimals for JSON. Allocates the array. */
  toArray(): number[] {
    const out: number[] = [];
    const size = this.values.length;
    for (let i = 0; i < this.count; i++) {
      out.push(Math.round(this.values[(this.head - this.count + i + size) % size]! * 1000) / 1000);
    }
    return out;
  }
}
