/**
 * @module workers/l4
 *
 * Layer-4 listeners (Network-LB style), public surface. Thread: worker.
 * Place in the flow:
 *
 *   TCP     accept -> [PROXY in] -> [SNI peek] -> route -> pick -> connect -> [PROXY v2 out] -> relay -> finish
 *   TLS     accept -> tls (workers/tls, the HTTPS code) -> route -> pick -> connect -> [PROXY v2 out] -> relay (plaintext)
 *   UDP     datagram -> flow table (5-tuple) -> first datagram: route -> pick -> connected socket -> relay both ways
 *   TCP_UDP both of the above on one port
 *   GENEVE  datagram -> decode -> flow table (symmetric) -> pick -> appliance (GWLB options) -> back to its sender
 *
 * tcp-flow.ts: one TCP flow (preamble, pick, relay, idle timeout);
 * client-hello.ts: the SNI peek; proxy-protocol.ts: PROXY v1/v2 read and v2
 * write; udp-listener.ts: the UDP socket and its bounded flow table;
 * geneve.ts and geneve-listener.ts: GWLB's GENEVE codec and flow table.
 *
 * Record (workers/record/tcp-record.ts): listener and target connection
 * counters, processed bytes and one access-log line per TCP flow, at close.
 */
export { CLIENT_HELLO_BYTES_MAX, peekClientHello } from './client-hello.ts';
export { bindGeneveListener } from './geneve-listener.ts';
export {
  encodeProxyV2,
  PROXY_HEADER_BYTES_MAX,
  PROXY_MALFORMED,
  PROXY_NEED_MORE,
  ProxyHeader,
  ProxyTrust,
  readProxyHeader,
} from './proxy-protocol.ts';
export { Layer4Listener, refuseProxyHeader, TcpFlow } from './tcp-flow.ts';
export { bindUdpListener } from './udp-listener.ts';
