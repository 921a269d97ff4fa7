/** HTTPS helpers for tests of the TLS listener (the end-to-end TURN test uses them too). */
import { request } from 'node:https';
import { Api, type Res } from './helpers.ts';

/** Api over HTTPS that trusts exactly `ca` (fetch cannot take a CA without an extra dispatcher). */
export class TlsApi extends Api {
  readonly ca: string;
  constructor(url: string, ca: string) {
    super(url);
    this.ca = ca;
  }
  override req(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers: Record<string, string> = {},
  ): Promise<Res> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    // A Host header of our own must not become the name the certificate is checked against.
    const servername = h.host === undefined ? {} : { servername: 'localhost' };
    return new Promise((resolve, reject) => {
      const r = request(`${this.url}${path}`, { method, headers: h, ca: this.ca, ...servername }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      r.on('error', reject);
      r.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
}
