/**
 * Relay-only ICE for people outside the user's contacts: the peer must not learn our IP
 * addresses. A browser with `iceTransportPolicy: 'relay'` gathers only relay candidates, but the
 * SDK does not rely on the media engine for that: it filters every outgoing candidate and strips
 * the SDP it sends, so a buggy or misconfigured engine cannot leak a host or srflx address.
 */
export type IceTransportPolicy = 'relay' | 'all';
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** The `typ` of an ICE candidate line (RFC 8839 §5.1), with or without the `a=`/`candidate:` prefix. */
export function candidateType(candidate: string): CandidateType | undefined {
  const m = / typ (host|srflx|prflx|relay)(?: |$)/.exec(candidate);
  return m?.[1] as CandidateType | undefined;
}

/** Whether a local candidate may be sent under `policy`; unparseable ones never go out under relay. */
export function mayShareCandidate(candidate: string, policy: IceTransportPolicy): boolean {
  if (policy === 'all') return true;
  return candidateType(candidate) === 'relay';
}

/**
 * The SDP we send under `policy`. For 'relay': drops every non-relay `a=candidate` line and
 * replaces the default connection address and port (c=, a=rtcp:, the m= port, which an engine
 * fills from its default candidate, possibly a host one) with the trickle-ICE placeholders of
 * RFC 8840 §4.1.1 (0.0.0.0 / :: and port 9). Line endings are kept.
 */
export function sanitizeSdp(sdp: string, policy: IceTransportPolicy): string {
  if (policy === 'all') return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const out: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('a=candidate:')) {
      if (candidateType(line) === 'relay') out.push(line);
      continue;
    }
    if (line.startsWith('c=IN IP4 ')) out.push('c=IN IP4 0.0.0.0');
    else if (line.startsWith('c=IN IP6 ')) out.push('c=IN IP6 ::');
    else if (line.startsWith('a=rtcp:')) out.push('a=rtcp:9 IN IP4 0.0.0.0');
    else if (line.startsWith('m=')) out.push(line.replace(/^(m=\S+) \d+/, '$1 9'));
    else out.push(line);
  }
  return out.join(eol);
}
