/**
 * src/shared/redact: URL userinfo and secret-named parameters leave text
 * Ferry shows; everything else stays as written.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from '../../../../src/shared/redact.ts';

describe('redactSecrets', () => {
  describe('when a URL carries userinfo', () => {
    it.each([
      ['https://admin:hunter2@collector:4318/v1/traces', `https://${REDACTED}@collector:4318/v1/traces`],
      ['http://token-only@h', `http://${REDACTED}@h`],
      ['http://u:p@ss@h:1/x', `http://${REDACTED}@h:1/x`],
      ['got "https://a:b@c/…" (line 3)', `got "https://${REDACTED}@c/…" (line 3)`],
    ])('replaces it in %s', (text, expected) => {
      expect(redactSecrets(text)).toBe(expected);
    });
  });

  describe('when a parameter is named like a secret', () => {
    it.each([
      ['/health?token=abc', `/health?token=${REDACTED}`],
      ['/h?probe=1&api_key=abc&x=2', `/h?probe=1&api_key=${REDACTED}&x=2`],
      ['http://c/v1/traces?access_token=abc#frag', `http://c/v1/traces?access_token=${REDACTED}#frag`],
      ['/p;jsessionid=abc', `/p;jsessionid=${REDACTED}`],
      [
        '/s?X-Amz-Signature=abc&X-Amz-Credential=def',
        `/s?X-Amz-Signature=${REDACTED}&X-Amz-Credential=${REDACTED}`,
      ],
    ])('replaces its value in %s', (text, expected) => {
      expect(redactSecrets(text)).toBe(expected);
    });
  });

  describe('when the text holds no credential', () => {
    it.each([
      '/health?probe=1',
      'http://127.0.0.1:4318/v1/traces',
      'user@example.com wrote 1=1',
      '10.0.0.7:80',
    ])('returns %s unchanged', (text) => {
      expect(redactSecrets(text)).toBe(text);
    });
  });

  it('never leaves a password placed in a URL, whatever it holds', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:%"<>@-]{8,40}$/), (password) => {
        const text = `tracing.endpoint: got "https://user:${password}@collector.example:4318/x"`;
        expect(redactSecrets(text)).not.toContain(password);
      }),
    );
  });
});
