/**
 * A real DNS server for tests: Debian's dnsmasq, installed when missing by
 * scripts/ensure-dnsmasq.sh, run in the foreground on 127.0.0.1 at a free
 * port with a config and hosts file the test writes (and rewrites). Queries
 * are logged to its stderr, which this helper keeps, so a test can count
 * what Ferry asked. Nothing is mocked: Ferry's resolver sends real UDP DNS.
 *
 *   records -> <dir>/dnsmasq.conf + <dir>/hosts -> dnsmasq --keep-in-foreground
 *   update(records) -> rewrite both, restart on the same port (SRV and
 *                      host-record lines are read only at start)
 *   pause()/resume() -> SIGSTOP/SIGCONT: the server stops answering (timeouts)
 *   stop()/start()   -> no server on the port (connection refused)
 *
 * Every name under `ferry.test` that the records do not define answers
 * NXDOMAIN (`local=/ferry.test/`); names elsewhere are REFUSED (no upstream).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENSURE_SCRIPT = fileURLToPath(new URL('../../scripts/ensure-dnsmasq.sh', import.meta.url));
/** How long dnsmasq may take to say it started before the helper gives up (a broken install, not a timing assert). */
const START_WAIT_MS = 10_000;

/** The DNS domain tests use; dnsmasq is authoritative-like for it (NXDOMAIN for unknown names). */
export const TEST_DOMAIN = 'ferry.test';

export interface DnsRecords {
  /** TTL of A/AAAA records from the hosts file and of SRV answers (dnsmasq local-ttl), seconds. Default 5. */
  readonly ttlS?: number;
  /** name -> addresses (A for IPv4, AAAA for IPv6). */
  readonly hosts?: Readonly<Record<string, readonly string[]>>;
  /** SRV records. */
  readonly srv?: readonly {
    readonly name: string;
    readonly target: string;
    readonly port: number;
    readonly priority?: number;
    readonly weight: number;
  }[];
}

/** Path of dnsmasq, or the reason it cannot be had (printed by the tests that then skip). */
export function ensureDnsmasq(): { readonly path: string } | { readonly reason: string } {
  const result = spawnSync('bash', [ENSURE_SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (result.status === 0) return { path: result.stdout.trim() };
  const reason = (result.stderr || result.error?.message || `exit ${result.status}`).trim().split('\n').pop();
  return { reason: `dnsmasq is not available: ${reason}` };
}

export class TestDns {
  readonly port: number;
  /** `127.0.0.1:<port>`, for `discovery.dns.servers`. */
  readonly server: string;
  private readonly binary: string;
  private readonly dir: string;
  private child: ChildProcess | null;
  private log: string;

  private constructor(binary: string, port: number) {
    this.binary = binary;
    this.port = port;
    this.server = `127.0.0.1:${port}`;
    this.dir = mkdtempSync(join(tmpdir(), 'ferry-dnsmasq-'));
    this.child = null;
    this.log = '';
  }

  /** Start dnsmasq with `records` on a free loopback port. */
  static async start(binary: string, records: DnsRecords): Promise<TestDns> {
    for (let attempt = 0; ; attempt++) {
      const dns = new TestDns(binary, await freeUdpPort());
      try {
        await dns.update(records);
        return dns;
      } catch (error) {
        await dns.close();
        if (attempt >= 4) throw error;
      }
    }
  }

  /** Replace the records: rewrite config and hosts, restart on the same port, wait until it answers. */
  async update(records: DnsRecords): Promise<void> {
    const hostsPath = join(this.dir, 'hosts');
    const hostLines = Object.entries(records.hosts ?? {}).flatMap(([name, addresses]) =>
      addresses.map((address) => `${address} ${name}`),
    );
    writeFileSync(hostsPath, `${hostLines.join('\n')}\n`);
    const srvLines = (records.srv ?? []).map(
      (r) => `srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight}`,
    );
    const config = [
      `port=${this.port}`,
      'listen-address=127.0.0.1',
      'bind-interfaces',
      'no-resolv',
      'no-hosts',
      'no-poll',
      `addn-hosts=${hostsPath}`,
      `local=/${TEST_DOMAIN}/`,
      `local-ttl=${records.ttlS ?? 5}`,
      'log-queries',
      'log-facility=-',
      'user=root',
      ...srvLines,
    ];
    writeFileSync(join(this.dir, 'dnsmasq.conf'), `${config.join('\n')}\n`);
    await this.stop();
    await this.start();
  }

  /** Start the server with the current files (after stop()). */
  async start(): Promise<void> {
    const child = spawn(
      this.binary,
      ['--keep-in-foreground', `--conf-file=${join(this.dir, 'dnsmasq.conf')}`, '--pid-file='],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    let startLog = '';
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dnsmasq did not start: ${startLog}`)), START_WAIT_MS);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        this.log += chunk;
        startLog += chunk;
        if (startLog.includes('read ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dnsmasq exited with ${code}: ${startLog}`));
      });
    });
    await started;
  }

  /** Stop the server: the port answers nothing (ICMP port unreachable: connection refused). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    child.kill('SIGCONT');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  /** Freeze the server (SIGSTOP): queries reach the socket but get no answer, so they time out. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Thaw it (SIGCONT); queries that arrived meanwhile are answered late. */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Queries dnsmasq received for `name` of `type` (A, AAAA, SRV) since it was first started. */
  queryCount(name: string, type: string): number {
    const needle = `query[${type}] ${name} from`;
    return this.log.split('\n').filter((line) => line.includes(needle)).length;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A UDP port free on 127.0.0.1 right now (dnsmasq also binds TCP on it; start retries on a clash). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
