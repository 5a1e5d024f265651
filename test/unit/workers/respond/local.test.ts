/**
 * workers/respond/local: redirect Locations from ALB templates, and the
 * prebuilt fixed responses (exact bytes, keep-alive and close variants, HEAD).
 */
import { describe, expect, it } from 'vitest';
import type { TopologyRedirectAction } from '../../../../proto/thread-messages.ts';
import { createRequestHead } from '../../../../workers/http/parse-request-head.ts';
import { FixedResponse, Redirect, redirectInputs } from '../../../../workers/respond/local.ts';

function redirect(parts: Partial<TopologyRedirectAction>): Redirect {
  return new Redirect({
    type: 'redirect',
    protocol: '#{protocol}',
    host: '#{host}',
    port: '#{port}',
    path: '/#{path}',
    query: '#{query}',
    statusCode: 301,
    ...parts,
  });
}

function inputs(target: string, host = 'example.com:8080') {
  const req = createRequestHead();
  req.target = target;
  req.host = host;
  return redirectInputs(req, 'http', '127.0.0.1', 8080);
}

describe('Redirect', () => {
  it.each([
    [{ protocol: 'HTTPS', port: '443' }, '/a/b?x=1', 'https://example.com/a/b?x=1'],
    [{ protocol: 'HTTPS', port: '8443' }, '/a', 'https://example.com:8443/a'],
    [{ path: '/new/#{path}' }, '/old/x', 'http://example.com:8080/new/old/x'],
    [
      { query: 'from=#{host}&#{query}', path: '/' },
      '/p?q=1',
      'http://example.com:8080/?from=example.com&q=1',
    ],
    [{ query: '', path: '/x' }, '/y?drop=me', 'http://example.com:8080/x'],
    [{ host: 'www.#{host}' }, '/', 'http://www.example.com:8080/'],
    [{ protocol: 'HTTP', port: '80', host: 'other.test' }, '/p', 'http://other.test/p'],
    [{ path: '/v2/#{path}' }, 'http://example.com/v1?a', 'http://example.com:8080/v2/v1?a'],
  ])('builds %o for %s as %s', (parts, target, location) => {
    expect(redirect(parts).location(inputs(target))).toBe(location);
  });

  it('answers with the status, Location and an empty body', () => {
    const response = redirect({ protocol: 'HTTPS', port: '443' }).response(inputs('/p'), false, 1);
    expect(response).toBe(
      'HTTP/1.1 301 Moved Permanently\r\nlocation: https://example.com/p\r\ncontent-length: 0\r\n\r\n',
    );
    expect(redirect({ statusCode: 302, path: '/x' }).response(inputs('/p'), true, 1)).toBe(
      'HTTP/1.1 302 Found\r\nlocation: http://example.com:8080/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
    );
  });

  it("uses the listener's host when the request has no Host", () => {
    expect(redirect({ path: '/x' }).location(inputs('/p', ''))).toBe('http://127.0.0.1:8080/x');
  });
});

describe('FixedResponse', () => {
  const fixed = new FixedResponse({
    type: 'fixedResponse',
    statusCode: 503,
    contentType: 'application/json',
    body: '{"a":"é"}',
  });

  it('has exact bytes for a keep-alive HTTP/1.1 request', () => {
    expect(fixed.bytes(false, false, 1).toString('utf8')).toBe(
      'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{"a":"é"}',
    );
  });

  it('says keep-alive to HTTP/1.0 and close when closing', () => {
    expect(fixed.bytes(false, false, 0).toString('latin1')).toContain('connection: keep-alive\r\n\r\n');
    expect(fixed.bytes(false, true, 1).toString('latin1')).toContain('connection: close\r\n\r\n');
  });

  it('leaves the body out for HEAD, keeping its length', () => {
    const head = fixed.bytes(true, false, 1).toString('latin1');
    expect(head.endsWith('content-length: 10\r\n\r\n')).toBe(true);
  });
});
