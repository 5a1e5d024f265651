/**
 * @module workers/respond/local
 *
 * Responses Ferry answers itself because a listener rule says so: ALB's
 * `fixedResponse` and `redirect` actions. Thread: worker. Place in the flow:
 * route -> **respond** (no pick, no upstream); workers/l7 writes the bytes.
 *
 * Unlike error responses (index.ts), these are ordinary answers: the
 * connection stays open when the request allows it (keep-alive, no body to
 * skip), so the caller says whether this response closes it.
 *
 * Fixed responses are built whole when the config is applied (H2): six
 * variants (keep-alive for HTTP/1.1, keep-alive for HTTP/1.0, close; each
 * with and without the body for HEAD), so answering one is a single write of
 * a shared Buffer. A redirect's Location depends on the request, so its head
 * is one string built per request from templates compiled here.
 */
import { STATUS_CODES } from 'node:http';
import type { TopologyFixedResponseAction, TopologyRedirectAction } from '../../proto/thread-messages.ts';
import { assert } from '../../src/shared/assert.ts';
import { hostLengthOf, pathEndOf, pathStartOf, type RequestHead } from '../http/index.ts';

// === Fixed responses ===
const VARIANT_KEEP_ALIVE_11 = 0;
const VARIANT_KEEP_ALIVE_10 = 1;
const VARIANT_CLOSE = 2;

/** Connection header line per variant. */
function connectionLine(variant: number): string {
  if (variant === VARIANT_CLOSE) return 'connection: close\r\n';
  return variant === VARIANT_KEEP_ALIVE_10 ? 'connection: keep-alive\r\n' : '';
}

/** Which variant a request gets. */
function variantOf(isClose: boolean, versionMinor: number): number {
  if (isClose) return VARIANT_CLOSE;
  return versionMinor === 0 ? VARIANT_KEEP_ALIVE_10 : VARIANT_KEEP_ALIVE_11;
}

/** A fixedResponse action, prebuilt. */
export class FixedResponse {
  readonly statusCode: number;
  /** Content-Type and body, as structured fields for HTTP/2 (which writes no HTTP/1 text). */
  readonly contentType: string;
  readonly body: Buffer;
  /** [variant * 2 + (isHead ? 1 : 0)]: the complete response bytes. */
  private readonly variants: readonly Buffer[];

  constructor(action: TopologyFixedResponseAction) {
    this.statusCode = action.statusCode;
    this.contentType = action.contentType;
    const body = Buffer.from(action.body, 'utf8');
    this.body = body;
    const variants: Buffer[] = [];
    for (let variant = VARIANT_KEEP_ALIVE_11; variant <= VARIANT_CLOSE; variant++) {
      const head = Buffer.from(
        `HTTP/1.1 ${action.statusCode} ${STATUS_CODES[action.statusCode] ?? 'Unknown'}\r\n` +
          `content-type: ${action.contentType}\r\ncontent-length: ${body.length}\r\n` +
          `${connectionLine(variant)}\r\n`,
        'latin1',
      );
      variants.push(Buffer.concat([head, body]), head);
    }
    this.variants = variants;
  }

  /** The bytes to write. Allocates nothing. */
  bytes(isHead: boolean, isClose: boolean, versionMinor: number): Buffer {
    return this.variants[variantOf(isClose, versionMinor) * 2 + (isHead ? 1 : 0)]!;
  }
}

// === Redirects ===
/** Template piece codes: a literal, or one of ALB's placeholders. */
const PIECE_LITERAL = 0;
const PIECE_PROTOCOL = 1;
const PIECE_HOST = 2;
const PIECE_PORT = 3;
const PIECE_PATH = 4;
const PIECE_QUERY = 5;

const PLACEHOLDER_CODES: Readonly<Record<string, number>> = {
  '#{protocol}': PIECE_PROTOCOL,
  '#{host}': PIECE_HOST,
  '#{port}': PIECE_PORT,
  '#{path}': PIECE_PATH,
  '#{query}': PIECE_QUERY,
};

/** One part of the Location (host, path, ...) as literal and placeholder pieces. */
class Template {
  readonly codes: Int8Array;
  readonly literals: readonly string[];

  constructor(text: string) {
    const codes: number[] = [];
    const literals: string[] = [];
    let rest = text;
    while (rest.length > 0) {
      const at = rest.indexOf('#{');
      const end = at === -1 ? -1 : rest.indexOf('}', at);
      if (at === -1 || end === -1) {
        codes.push(PIECE_LITERAL);
        literals.push(rest);
        break;
      }
      if (at > 0) {
        codes.push(PIECE_LITERAL);
        literals.push(rest.slice(0, at));
      }
      const code = PLACEHOLDER_CODES[rest.slice(at, end + 1)];
      assert(code !== undefined, `redirect: unknown placeholder in ${text} (config validation missed it)`);
      codes.push(code);
      literals.push('');
      rest = rest.slice(end + 1);
    }
    this.codes = Int8Array.from(codes);
    this.literals = literals;
  }
}

/** The request values a redirect's placeholders stand for. */
export interface RedirectInputs {
  /** `http` or `https`: the listener's protocol. */
  readonly protocol: string;
  /** The Host header without its port (or the listener's host when the request had none). */
  readonly host: string;
  /** The port the client connected to. */
  readonly port: number;
  /** The request path without its leading `/`, as sent. */
  readonly path: string;
  /** The query without `?`, as sent; '' when none. */
  readonly query: string;
}

/** A redirect action, compiled. */
export class Redirect {
  readonly statusCode: number;
  readonly statusLine: string;
  /** '' when the protocol is `#{protocol}` (the listener's own). */
  private readonly protocol: string;
  private readonly host: Template;
  private readonly port: Template;
  private readonly path: Template;
  private readonly query: Template;

  constructor(action: TopologyRedirectAction) {
    this.statusCode = action.statusCode;
    this.statusLine = `HTTP/1.1 ${action.statusCode} ${STATUS_CODES[action.statusCode] ?? 'Redirect'}\r\n`;
    this.protocol = action.protocol === '#{protocol}' ? '' : action.protocol.toLowerCase();
    this.host = new Template(action.host);
    this.port = new Template(action.port);
    this.path = new Template(action.path);
    this.query = new Template(action.query);
  }

  /** The Location URL for a request. Allocates the string. */
  location(inputs: RedirectInputs): string {
    const protocol = this.protocol === '' ? inputs.protocol : this.protocol;
    const port = expand(this.port, inputs);
    const isDefaultPort = (protocol === 'http' && port === '80') || (protocol === 'https' && port === '443');
    const query = expand(this.query, inputs);
    return (
      `${protocol}://${expand(this.host, inputs)}${isDefaultPort || port === '' ? '' : `:${port}`}` +
      `${expand(this.path, inputs)}${query === '' ? '' : `?${query}`}`
    );
  }

  /** The whole response (no body). Allocates the string. */
  response(inputs: RedirectInputs, isClose: boolean, versionMinor: number): string {
    return (
      `${this.statusLine}location: ${this.location(inputs)}\r\ncontent-length: 0\r\n` +
      `${connectionLine(variantOf(isClose, versionMinor))}\r\n`
    );
  }
}

function expand(template: Template, inputs: RedirectInputs): string {
  let text = '';
  const codes = template.codes;
  for (let i = 0; i < codes.length; i++) {
    switch (codes[i]) {
      case PIECE_LITERAL:
        text += template.literals[i]!;
        break;
      case PIECE_PROTOCOL:
        text += inputs.protocol;
        break;
      case PIECE_HOST:
        text += inputs.host;
        break;
      case PIECE_PORT:
        text += inputs.port;
        break;
      case PIECE_PATH:
        text += inputs.path;
        break;
      case PIECE_QUERY:
        text += inputs.query;
        break;
    }
  }
  return text;
}

// === Request pieces (for redirects) ===
/** Redirect inputs of a request. Allocates the substrings. */
export function redirectInputs(
  req: RequestHead,
  protocol: string,
  listenerHost: string,
  port: number,
): RedirectInputs {
  const target = req.target;
  const start = pathStartOf(target);
  const end = pathEndOf(target, start);
  // `#{path}` is the path without its leading '/' (ALB): `/#{path}` rebuilds it.
  const path = start < 0 ? '' : target.slice(start + 1, end);
  const query = end < target.length ? target.slice(end + 1) : '';
  const host = req.host === '' ? listenerHost : req.host.slice(0, hostLengthOf(req.host));
  return { protocol, host, port, path, query };
}
