/**
 * @module src/shared/ip
 *
 * IPv4 and IPv6 addresses and CIDR blocks as integers. Thread: both. Place in
 * the flow: config validation (src/config, `sourceIp`, `allowedSources`) and
 * the data plane (workers/listen source filter at accept, workers/route
 * `sourceIp` conditions), so both sides agree on what an address is.
 *
 * An address is four Int32 words, most significant first (IPv4 uses word 0
 * only), written into a caller-owned Int32Array: parsing allocates nothing,
 * so a worker can parse the client address of every connection or request.
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`, how a dual-stack socket reports an
 * IPv4 client) parses as the IPv4 address, so an IPv4 CIDR matches it.
 *
 * Why not node:net's BlockList: its check() parses the address into a native
 * SocketAddress per call (allocation and a C++ crossing per request), and the
 * config needs the same parser to say *why* a CIDR is wrong.
 *
 * Grammar: IPv4 is exactly four decimal octets 0..255 without leading zeros
 * (`010.0.0.1` is ambiguous: octal to some parsers); IPv6 is RFC 4291 text
 * (1..4 hex digits per group, one `::`, an optional dotted IPv4 tail), with
 * an optional `%zone` suffix that is ignored.
 */

/** Not an address. */
export const IP_NONE = 0;
/** An IPv4 address (also IPv4-mapped IPv6): the value is in word 0. */
export const IP_V4 = 4;
/** An IPv6 address: words 0..3, most significant first. */
export const IP_V6 = 6;

/** Longest address text looked at (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` is 45, plus a zone). */
export const IP_TEXT_LENGTH_MAX = 64;

/** Scratch for IPv6 groups, allocated once per thread (H1). */
const groups = new Int32Array(8);

/**
 * Parse `text` into `words` (length >= 4). Returns IP_V4, IP_V6 or IP_NONE;
 * on IP_NONE `words` holds garbage. Thread: any. Never throws, never
 * allocates; O(length) with length <= IP_TEXT_LENGTH_MAX.
 */
export function parseIp(text: string, words: Int32Array): number {
  const length = text.length;
  if (length === 0 || length > IP_TEXT_LENGTH_MAX) return IP_NONE;
  if (text.indexOf(':') === -1) {
    const value = parseIpv4(text, 0, length);
    if (value === -1) return IP_NONE;
    words[0] = value | 0;
    words[1] = 0;
    words[2] = 0;
    words[3] = 0;
    return IP_V4;
  }
  let end = text.indexOf('%');
  if (end === -1) end = length;
  else if (end === length - 1) return IP_NONE; // an empty zone
  if (!parseIpv6(text, end)) return IP_NONE;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0) {
    if (groups[5] === 0xffff) {
      words[0] = (groups[6]! << 16) | groups[7]! | 0;
      words[1] = 0;
      words[2] = 0;
      words[3] = 0;
      return IP_V4;
    }
  }
  for (let i = 0; i < 4; i++) words[i] = (groups[2 * i]! << 16) | groups[2 * i + 1]! | 0;
  return IP_V6;
}

/** Dotted quad in text[start..end) as an unsigned 32-bit number, or -1. */
function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 0x30 || c > 0x39) return -1;
    if (digits > 0 && octet === 0) return -1; // leading zero
    octet = octet * 10 + (c - 0x30);
    digits++;
    if (octet > 255) return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** RFC 4291 text in text[0..end) into `groups`; false when malformed. */
function parseIpv6(text: string, end: number): boolean {
  let count = 0; // groups written
  let gapAt = -1; // group index where `::` stands
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return false;
    gapAt = 0;
    i = 2;
    if (i === end) {
      groups.fill(0);
      return true;
    }
  }
  while (i < end) {
    // One group: hex digits, or (last) a dotted IPv4 tail.
    let value = 0;
    let digits = 0;
    let j = i;
    while (j < end) {
      const h = hexValue(text.charCodeAt(j));
      if (h === -1) break;
      value = value * 16 + h;
      digits++;
      j++;
    }
    if (j < end && text.charCodeAt(j) === 0x2e) {
      // IPv4 tail: must end the address and fit in the last two groups.
      if (count > 6) return false;
      const v4 = parseIpv4(text, i, end);
      if (v4 === -1) return false;
      groups[count++] = Math.floor(v4 / 65536);
      groups[count++] = v4 % 65536;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    groups[count++] = value;
    i = j;
    if (i === end) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (text.charCodeAt(i) === 0x3a) {
      if (gapAt !== -1) return false; // a second `::`
      gapAt = count;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // a trailing single `:`
    }
  }
  if (gapAt === -1) return count === 8;
  if (count > 7) return false; // `::` must stand for at least one group
  // Move the groups after the gap to the end and zero the gap.
  const tail = count - gapAt;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!;
  for (let k = gapAt; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

// === CIDR blocks (config time) ===
/** A parsed CIDR block: the network's words (host bits zero) and its prefix length. */
export interface Cidr {
  readonly family: typeof IP_V4 | typeof IP_V6;
  readonly words: readonly [number, number, number, number];
  readonly prefixLength: number;
  /** Canonical text: the network address as written (host bits cleared) and `/prefix`. */
  readonly text: string;
}

export type CidrParse =
  | { readonly ok: true; readonly value: Cidr }
  | { readonly ok: false; readonly message: string };

/** The mask of word `wordIndex` for a prefix length (bits from the most significant end). */
export function prefixMaskWord(prefixLength: number, wordIndex: number): number {
  const bits = Math.max(0, Math.min(32, prefixLength - 32 * wordIndex));
  return bits === 0 ? 0 : (-1 << (32 - bits)) | 0;
}

/**
 * Parse `a.b.c.d/n` or `ipv6/n`. A bare address is a one-address block
 * (/32 or /128). A block with host bits set (`10.0.0.1/8`) is refused, since
 * it is usually a typo for a different block; the message names the network
 * meant. Thread: any (config time: allocates). Never throws.
 */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const scratch = new Int32Array(4);
  if (addressText.includes('%')) return { ok: false, message: 'a CIDR block cannot carry a %zone' };
  const family = parseIp(addressText, scratch);
  if (family === IP_NONE) {
    return {
      ok: false,
      message: 'expected a CIDR block such as 10.0.0.0/8 or fc00::/7 (the address is not valid)',
    };
  }
  // An IPv4-mapped IPv6 block is written as IPv6; keep it IPv4 only when written as IPv4.
  const isWrittenV6 = addressText.includes(':');
  const bitsMax = family === IP_V4 ? 32 : 128;
  let prefixLength = bitsMax;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > (isWrittenV6 ? 128 : 32)) {
      return {
        ok: false,
        message: `expected a prefix length 0..${isWrittenV6 ? 128 : 32} after /`,
      };
    }
    prefixLength = Number(prefixText);
    if (isWrittenV6 && family === IP_V4) {
      // ::ffff:a.b.c.d/n covers IPv4 addresses only when n reaches into the mapped part.
      if (prefixLength < 96) {
        return { ok: false, message: 'an IPv4-mapped block (::ffff:…) needs a prefix length of at least 96' };
      }
      prefixLength -= 96;
    }
  }
  const words: [number, number, number, number] = [0, 0, 0, 0];
  let hasHostBits = false;
  for (let i = 0; i < 4; i++) {
    const mask = prefixMaskWord(prefixLength, i);
    words[i] = scratch[i]! & mask;
    if (words[i] !== scratch[i]) hasHostBits = true;
  }
  const canonical = `${formatIp(family, words)}/${prefixLength}`;
  if (hasHostBits) {
    return { ok: false, message: `host bits are set (did you mean ${canonical}?)` };
  }
  return {
    ok: true,
    value: { family: family as typeof IP_V4 | typeof IP_V6, words, prefixLength, text: canonical },
  };
}

/** Text of an address held as words: dotted quad, or RFC 5952 compressed IPv6. Allocates. */
export function formatIp(family: number, words: ArrayLike<number>): string {
  if (family === IP_V4) {
    const v = words[0]! >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts: number[] = [];
  for (let i = 0; i < 4; i++) parts.push((words[i]! >>> 16) & 0xffff, words[i]! & 0xffff);
  // Longest run of two or more zero groups becomes `::` (the first, if tied).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = parts.map((part) => part.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * A socket's remote address as clients and configs write it: an IPv4-mapped
 * IPv6 address (`::ffff:10.0.0.1`, what a dual-stack listener reports for an
 * IPv4 client) loses its prefix. Every protocol uses this one form, so one
 * client hashes, logs and matches alike on HTTP, HTTP/2 and TCP listeners.
 */
export function unmappedAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
