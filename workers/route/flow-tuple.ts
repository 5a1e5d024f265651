/**
 * @module workers/route/flow-tuple
 *
 * A layer-4 flow's addresses (NLB's flow: protocol, source and destination
 * address and port) and the hash keys made from it: `source_ip`,
 * `source_ip_dest_ip` and `five_tuple`. Thread: worker. Place in the flow:
 * accept (workers/l4 fills one FlowTuple per connection or UDP flow) ->
 * **pick** (Router.pick hashes it for `hash` groups).
 *
 * The source is the client as Ferry knows it: the socket peer, or the
 * address a trusted PROXY protocol header carried. The destination is the
 * listener address the client reached (the header's, when one was read).
 */
import { hashString, mixHash } from '../../src/shared/hash.ts';

/** IANA protocol numbers, as five_tuple hashes them. */
export const FLOW_PROTOCOL_TCP = 6;
export const FLOW_PROTOCOL_UDP = 17;

export class FlowTuple {
  protocol: number;
  /** Without the `::ffff:` of an IPv4-mapped address (src/shared/ip.ts unmappedAddress). */
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
  /** A key the protocol computed itself (GENEVE's symmetric hash), used instead of `hash.key` when set. */
  keyHash: number;
  hasKeyHash: boolean;

  constructor() {
    this.protocol = FLOW_PROTOCOL_TCP;
    this.sourceAddress = '';
    this.sourcePort = 0;
    this.destinationAddress = '';
    this.destinationPort = 0;
    this.keyHash = 0;
    this.hasKeyHash = false;
  }
}

/**
 * The 32-bit key of a flow for a hash group's `hash.key` kind: both
 * addresses for `source_ip_dest_ip`, all five fields for `five_tuple`, the
 * source address otherwise (the HTTP keys have no meaning for a flow).
 * Never allocates.
 */
export function flowKeyHash(kind: string, flow: FlowTuple): number {
  if (flow.hasKeyHash) return flow.keyHash;
  if (kind === 'five_tuple') {
    const addresses = hashString(flow.destinationAddress, hashString(flow.sourceAddress));
    return mixHash(mixHash(mixHash(addresses, flow.sourcePort), flow.destinationPort), flow.protocol);
  }
  if (kind === 'source_ip_dest_ip')
    return hashString(flow.destinationAddress, hashString(flow.sourceAddress));
  return hashString(flow.sourceAddress);
}
