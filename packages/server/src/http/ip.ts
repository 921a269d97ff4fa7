/**
 * The client address of a raw request (the WebSocket upgrade, which Fastify's `req.ip` does not
 * cover), with the same rule Fastify applies for `trustProxy` true or a hop count: the addresses
 * are the socket's peer followed by X-Forwarded-For from right to left; trusting n hops takes the
 * n-th, trusting all takes the last (the left-most forwarded address).
 */
export function clientIp(
  remote: string,
  forwardedFor: string | string[] | undefined,
  trustProxy: boolean | number,
): string {
  if (trustProxy === false || trustProxy === 0 || forwardedFor === undefined) return remote;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const hops = header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const chain = [remote, ...hops.reverse()];
  const i = trustProxy === true ? chain.length - 1 : Math.min(trustProxy, chain.length - 1);
  return chain[i] ?? remote;
}
