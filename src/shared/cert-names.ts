/**
 * @module src/shared/cert-names
 *
 * The DNS names a certificate serves, as SNI sees them: its subjectAltName
 * DNS entries, or its subject CN when it has none (RFC 6125 §6.4.4). Thread:
 * both, no I/O: main uses it to validate listener certificates,
 * workers/tls to build each listener's SNI lookup.
 *
 * A wildcard `*.example.com` matches exactly one label (`a.example.com`, not
 * `example.com` nor `a.b.example.com`), as browsers and ELB do; wildcards
 * anywhere but the whole first label are not names SNI can match and are
 * dropped.
 */
import type { X509Certificate } from 'node:crypto';

/** `DNS:a.example.com, IP Address:10.0.0.1` -> the DNS names, lower-cased. */
function subjectAltDnsNames(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  const names: string[] = [];
  for (const part of subjectAltName.split(',')) {
    const entry = part.trim();
    if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase());
  }
  return names;
}

/** The CN of a subject such as `C=NL\nCN=example.com\nO=x`, or ''. */
function commonName(subject: string): string {
  for (const line of subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3).toLowerCase();
  }
  return '';
}

/** True for `*.example.com`: a wildcard that is the whole first label, over at least two more labels. */
export function isWildcardName(name: string): boolean {
  return name.startsWith('*.') && name.indexOf('*', 1) === -1 && name.slice(2).includes('.');
}

/**
 * The names SNI may pick a certificate by: exact names and `*.`-wildcards,
 * lower-cased, without duplicates. Empty when the certificate names no host
 * (an IP-only certificate): it can then only be a listener's default.
 * Allocates; config time only.
 */
export function certificateDnsNames(certificate: X509Certificate): string[] {
  let names = subjectAltDnsNames(certificate.subjectAltName);
  if (names.length === 0) {
    const cn = commonName(certificate.subject);
    if (cn !== '' && cn.includes('.')) names = [cn];
  }
  const usable = names.filter((name) => !name.includes('*') || isWildcardName(name));
  return [...new Set(usable)];
}
