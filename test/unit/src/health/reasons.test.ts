/**
 * ELB words (src/health/reasons.ts): reason codes and descriptions of failed
 * checks are a user contract.
 */
import { describe, expect, it } from 'vitest';
import { type CheckResult, failureReason, STATE_NAMES, stateName } from '../../../../src/health/index.ts';

function result(partial: Partial<CheckResult>): CheckResult {
  return { outcome: 'pass', statusCode: 0, cause: null, detail: '', durationMs: 3, ...partial };
}

describe('failureReason', () => {
  it('gives no reason for a pass', () => {
    expect(failureReason(result({ outcome: 'pass', statusCode: 200 }))).toBeNull();
  });

  it('names the status of a response code mismatch', () => {
    expect(failureReason(result({ outcome: 'status', statusCode: 503 }))).toEqual({
      code: 'Target.ResponseCodeMismatch',
      description: 'Health checks failed with these codes: [503]',
      statusCode: 503,
      cause: null,
    });
  });

  it('reports a timeout as Target.Timeout', () => {
    expect(failureReason(result({ outcome: 'timeout', durationMs: 500 }))?.code).toBe('Target.Timeout');
  });

  it.each([
    ['refused', 'ECONNREFUSED', 'Health checks failed: connection refused (ECONNREFUSED)'],
    ['reset', 'ECONNRESET', 'Health checks failed: connection reset (ECONNRESET)'],
    [
      'tls',
      'ERR_SSL_WRONG_VERSION_NUMBER',
      'Health checks failed: TLS handshake failed (ERR_SSL_WRONG_VERSION_NUMBER)',
    ],
    ['malformed', 'HTTPParserError', 'Health checks failed: malformed response (HTTPParserError)'],
  ] as const)('reports cause %s as Target.FailedHealthChecks', (cause, detail, description) => {
    expect(failureReason(result({ outcome: 'error', cause, detail }))).toEqual({
      code: 'Target.FailedHealthChecks',
      description,
      statusCode: null,
      cause,
    });
  });
});

describe('stateName', () => {
  it("uses ELB's state names", () => {
    expect(STATE_NAMES).toEqual([
      'empty',
      'initial',
      'healthy',
      'unhealthy',
      'draining',
      'unused',
      'unavailable',
    ]);
    expect(stateName(99)).toBe('empty');
  });
});
