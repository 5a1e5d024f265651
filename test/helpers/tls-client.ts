/**
 * TLS and HTTPS clients for tests that must see what the server did at the
 * TLS layer: which certificate it presented, which version it agreed to, or
 * why it refused the handshake. All on 127.0.0.1, with the test's CA.
 */
import https from 'node:https';
import tls from 'node:tls';

export interface HandshakeResult {
  /** The error code when the handshake (or the first read) failed, else ''. */
  readonly errorCode: string;
  /** The peer certificate's subjectAltName (`DNS:a.test, …`), '' on failure. */
  readonly subjectAltName: string;
  readonly fingerprint256: string;
  /** `TLSv1.3`, … ('' on failure). */
  readonly protocol: string;
  readonly alpnProtocol: string;
}

/**
 * Open a TLS connection, record the peer certificate, close. `servername`
 * undefined sends no SNI. Extra `options` (minVersion, ALPNProtocols, cert,
 * …) go to tls.connect. Resolves, never rejects.
 */
export function handshake(
  port: number,
  servername: string | undefined,
  ca: string,
  options: tls.ConnectionOptions = {},
): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    let isSettled = false;
    const settle = (result: HandshakeResult): void => {
      if (isSettled) return;
      isSettled = true;
      socket.destroy();
      resolve(result);
    };
    const failed = (code: string): HandshakeResult => ({
      errorCode: code,
      subjectAltName: '',
      fingerprint256: '',
      protocol: '',
      alpnProtocol: '',
    });
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca,
      // The test checks which certificate came back, not whether its name matches the SNI sent.
      checkServerIdentity: () => undefined,
      ...(servername === undefined ? {} : { servername }),
      ...options,
    });
    socket.on('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const result: HandshakeResult = {
        errorCode: '',
        subjectAltName: peer.subjectaltname ?? '',
        fingerprint256: peer.fingerprint256 ?? '',
        protocol: socket.getProtocol() ?? '',
        alpnProtocol: socket.alpnProtocol === false ? '' : (socket.alpnProtocol ?? ''),
      };
      // TLS 1.3 servers reject a client certificate after the client's handshake is done: read once to see it.
      socket.once('data', () => settle(result));
      setTimeout(() => settle(result), 200);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(failed(error.code ?? 'ERROR')));
    socket.on('close', () => settle(failed('CLOSED')));
  });
}

export interface HttpsResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The TLS socket the response came on (its peer certificate, reuse). */
  readonly socket: tls.TLSSocket;
}

/**
 * One HTTPS request (HTTP/1.1). Rejects with the socket error (a refused
 * handshake). The server's name is verified: pass the `servername` its
 * certificate carries (a custom checkServerIdentity would stop a keep-alive
 * agent from reusing the socket).
 */
export function httpsGet(
  port: number,
  path: string,
  options: https.RequestOptions & { readonly body?: string } = {},
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const { body, ...requestOptions } = options;
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        ...requestOptions,
      },
      (res) => {
        // Captured now: a keep-alive agent takes the socket back (res.socket = null) once the body ends.
        const socket = res.socket as tls.TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            socket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
