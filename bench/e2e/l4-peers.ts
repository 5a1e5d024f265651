/**
 * @module bench/e2e/l4-peers
 *
 * The targets and the load generator of `npm run bench:l4`, as one child
 * process per role so each can be pinned apart from the proxy. Thread: a
 * plain Node process outside Ferry.
 *
 *   node bench/e2e/l4-peers.ts targets <echoPort> <sourcePort> <udpPort>
 *     TCP echo (answers each chunk with itself), TCP source (writes 64 KiB
 *     chunks as fast as the reader takes them), UDP echo.
 *   node bench/e2e/l4-peers.ts load <kind> <host> <port> <durationS> <concurrency>
 *     kind: short (connect, 16 B, read the echo, close; repeat), keepalive
 *     (64 B ping-pong on open connections), stream (read from the source),
 *     udp (64 B datagrams, a window per socket). Prints one JSON line:
 *     { operations, bytes, seconds }.
 *
 * Node is the load generator on both sides of every system measured, so the
 * ratios compare proxies under the same client; the proxy's CPU time per
 * connection, request, packet or MB (read by bench/e2e/l4.ts from /proc) is
 * the figure that does not depend on the client keeping up.
 */
import dgram from 'node:dgram';
import net from 'node:net';

const [role, ...args] = process.argv.slice(2);

if (role === 'targets') {
  const [echoPort, sourcePort, udpPort] = args.map(Number);
  net
    .createServer((socket) => {
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('error', () => {});
    })
    .listen(echoPort, '127.0.0.1');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  net
    .createServer((socket) => {
      socket.on('error', () => {});
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk)) {}
      };
      socket.on('drain', pump);
      pump();
    })
    .listen(sourcePort, '127.0.0.1');
  const udp = dgram.createSocket('udp4');
  udp.on('message', (message, remote) => udp.send(message, remote.port, remote.address));
  udp.bind(udpPort, '127.0.0.1');
} else if (role === 'load') {
  const [kind, host, portText, durationText, concurrencyText] = args as [
    string,
    string,
    string,
    string,
    string,
  ];
  const port = Number(portText);
  const durationMs = Number(durationText) * 1000;
  const concurrency = Number(concurrencyText);
  const startMs = Date.now();
  const endMs = startMs + durationMs;
  let operations = 0;
  let bytes = 0;
  const done = (): void => {
    process.stdout.write(
      `${JSON.stringify({ operations, bytes, seconds: (Date.now() - startMs) / 1000 })}\n`,
    );
    process.exit(0);
  };
  setTimeout(done, durationMs + 50);
  const payload16 = Buffer.alloc(16, 0x62);
  const payload64 = Buffer.alloc(64, 0x63);
  if (kind === 'short') {
    const loop = (): void => {
      if (Date.now() >= endMs) return;
      const socket = net.connect({ host, port, noDelay: true });
      socket.once('connect', () => socket.write(payload16));
      socket.once('data', () => {
        operations++;
        socket.destroy();
        loop();
      });
      socket.once('error', () => setImmediate(loop));
    };
    for (let i = 0; i < concurrency; i++) loop();
  } else if (kind === 'keepalive') {
    for (let i = 0; i < concurrency; i++) {
      const socket = net.connect({ host, port, noDelay: true });
      let pending = 0;
      socket.on('connect', () => socket.write(payload64));
      socket.on('data', (chunk) => {
        pending += chunk.length;
        while (pending >= 64) {
          pending -= 64;
          operations++;
          if (Date.now() < endMs) socket.write(payload64);
        }
      });
      socket.on('error', () => {});
    }
  } else if (kind === 'stream') {
    for (let i = 0; i < concurrency; i++) {
      const socket = net.connect({ host, port });
      socket.on('data', (chunk) => {
        bytes += chunk.length;
      });
      socket.on('error', () => {});
    }
  } else if (kind === 'udp') {
    const WINDOW = 16;
    for (let i = 0; i < concurrency; i++) {
      const socket = dgram.createSocket('udp4');
      let lastReplyMs = Date.now();
      socket.on('message', () => {
        operations++;
        lastReplyMs = Date.now();
        if (Date.now() < endMs) socket.send(payload64, port, host);
      });
      socket.bind(0, '127.0.0.1', () => {
        for (let j = 0; j < WINDOW; j++) socket.send(payload64, port, host);
      });
      // Datagrams may be lost under load: refill the window when a socket has heard nothing for 20 ms.
      setInterval(() => {
        if (Date.now() - lastReplyMs > 20 && Date.now() < endMs) {
          for (let j = 0; j < WINDOW; j++) socket.send(payload64, port, host);
          lastReplyMs = Date.now();
        }
      }, 20).unref();
    }
  } else {
    throw new Error(`unknown load kind ${kind}`);
  }
} else {
  throw new Error(
    'usage: l4-peers.ts targets <echoPort> <sourcePort> <udpPort> | load <kind> <host> <port> <durationS> <concurrency>',
  );
}
