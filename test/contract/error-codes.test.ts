/**
 * Contract of the error registry (proto/error-codes.ts), after fastify's
 * errors.test: every code is patterned, documented in one sentence, maps to a
 * real HTTP status, names where the fault lies and whether a retry may help;
 * and the registry is append-only.
 *
 * Why: users match on these codes in `x-ferry-error`, access logs and control
 * replies, so a renamed or removed code silently breaks their alerts.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorSource } from '../../proto/error-codes.ts';

/**
 * Every code shipped so far, in registry order. Append new codes to the end of
 * ERROR_CODES and then here; never rename, remove or reorder an entry.
 */
const SHIPPED_CODES: readonly string[] = [
  'FERRY_ERR_HTTP_BAD_REQUEST',
  'FERRY_ERR_HTTP_HEADERS_TOO_LARGE',
  'FERRY_ERR_HTTP_HEADER_TIMEOUT',
  'FERRY_ERR_HTTP_VERSION',
  'FERRY_ERR_DOWNSTREAM_ABORTED',
  'FERRY_ERR_PICK_NO_TARGET',
  'FERRY_ERR_ROUTE_NO_MATCH',
  'FERRY_ERR_UPSTREAM_CONNECT_REFUSED',
  'FERRY_ERR_UPSTREAM_RESET',
  'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT',
  'FERRY_ERR_UPSTREAM_TIMEOUT',
  'FERRY_ERR_UPSTREAM_BAD_RESPONSE',
  'FERRY_ERR_INTERNAL_BUG',
  'FERRY_ERR_LISTENER_DRAINING',
  'FERRY_ERR_CONFIG_INVALID',
  'FERRY_ERR_CONFIG_CAPACITY',
  'FERRY_ERR_LISTEN_FAILED',
  'FERRY_ERR_CONTROL_BAD_FRAME',
  'FERRY_ERR_CONTROL_VERSION',
  'FERRY_ERR_CONTROL_UNAUTHORIZED',
  'FERRY_ERR_CONTROL_UNKNOWN_OP',
  'FERRY_ERR_CONTROL_BAD_ARGS',
  'FERRY_ERR_CONTROL_BUSY',
  'FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS',
  'FERRY_ERR_CONTROL_TIMEOUT',
  'FERRY_ERR_CONTROL_NOT_FOUND',
  'FERRY_ERR_CONTROL_CONFLICT',
  'FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE',
  'FERRY_ERR_CONTROL_NOT_OBSERVED',
  'FERRY_ERR_CONTROL_TOKEN_REQUIRED',
  'FERRY_ERR_CONTROL_UNREACHABLE',
  'FERRY_ERR_UPSTREAM_TLS',
  'FERRY_ERR_CA_EXISTS',
  'FERRY_ERR_CA_NOT_FOUND',
  'FERRY_ERR_CA_UNAUTHORIZED',
  'FERRY_ERR_CA_BAD_CSR',
  'FERRY_ERR_CA_ID_FORBIDDEN',
  'FERRY_ERR_CA_BODY_TOO_LARGE',
  'FERRY_ERR_CA_BAD_REQUEST',
  'FERRY_ERR_IDENTITY_FORBIDDEN',
  'FERRY_ERR_IDENTITY_UNAVAILABLE',
];

/** `FERRY_ERR_<AREA>_<CONDITION>`: at least an area and a condition after the prefix. */
const CODE_PATTERN = /^FERRY_ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/;

/** A period followed by a new capitalised word marks a second sentence. */
const SECOND_SENTENCE = /\.\s+[A-Z]/;

const SOURCES: readonly ErrorSource[] = ['downstream', 'upstream', 'internal', 'config'];

const STATUS_MIN = 100;
const STATUS_MAX = 599;

const codes = Object.keys(ERROR_CODES);

describe('ERROR_CODES', () => {
  it('keeps every shipped code, in order, with new codes appended at the end', () => {
    const prefix = codes.slice(0, SHIPPED_CODES.length);
    const removed = SHIPPED_CODES.filter((code) => !codes.includes(code));
    expect(
      prefix,
      'proto/error-codes.ts is append-only: restore renamed or removed codes' +
        (removed.length > 0 ? ` (missing: ${removed.join(', ')})` : '') +
        ' and add new codes after the last shipped one',
    ).toEqual(SHIPPED_CODES);
  });

  describe.each(codes)('%s', (code) => {
    const info = ERROR_CODES[code as keyof typeof ERROR_CODES];

    it('matches FERRY_ERR_<AREA>_<CONDITION>', () => {
      expect(code).toMatch(CODE_PATTERN);
    });

    it('has a one-sentence doc that starts with a capital and ends with a period', () => {
      expect(typeof info.doc).toBe('string');
      expect(info.doc).toMatch(/^[A-Z]/);
      expect(info.doc.endsWith('.'), `doc: ${info.doc}`).toBe(true);
      expect(info.doc, 'one sentence only').not.toMatch(SECOND_SENTENCE);
    });

    it('has an integer HTTP status in 100..599', () => {
      expect(Number.isInteger(info.status), `status: ${info.status}`).toBe(true);
      expect(info.status).toBeGreaterThanOrEqual(STATUS_MIN);
      expect(info.status).toBeLessThanOrEqual(STATUS_MAX);
    });

    it('names a known source', () => {
      expect(SOURCES).toContain(info.source);
    });

    it('says whether it is retryable with a boolean', () => {
      expect(typeof info.retryable).toBe('boolean');
    });
  });
});
