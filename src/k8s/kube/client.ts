/**
 * Concepts: a minimal Kubernetes API client over node:https, for the two things the DRA driver needs: reading
 * ResourceClaims and writing ResourceSlices. Credentials come from a kubeconfig in JSON form (`kubectl config view
 * --raw --minify -o json`; the current context's cluster and user: server, CA, client certificate and key or bearer
 * token, inline `-data` or as files) or, for a pod, from the service account (`in-cluster`: the
 * KUBERNETES_SERVICE_HOST/PORT environment and /var/run/secrets/kubernetes.io/serviceaccount, whose token is re-read
 * on every call because the kubelet rotates it). Only https is spoken: a bearer token never travels in clear.
 */
import { request, type RequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { err } from '../../errors.js';

/** A reply: status and parsed JSON body (undefined when empty or not JSON). */
export interface KubeReply {
  readonly status: number;
  readonly body: unknown;
}

export interface KubeClient {
  readonly server: string;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeReply>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Tls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
}

/** A client from `spec`: a JSON kubeconfig file, or `in-cluster`. */
export async function kubeClient(spec: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<KubeClient> {
  if (spec === 'in-cluster') {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    if (host === undefined || host === '') throw err('EINVAL', 'in-cluster: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)');
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const ca = await readFile(path.join(SA_DIR, 'ca.crt'));
    return httpsClient(server, { ca, rejectUnauthorized: true }, async () => (await readFile(path.join(SA_DIR, 'token'), 'utf8')).trim());
  }
  let cfg: KubeConfig;
  try {
    cfg = JSON.parse(await readFile(spec, 'utf8')) as KubeConfig;
  } catch (e) {
    throw err('EINVAL', `kubeconfig ${spec}: ${(e as Error).message} (a JSON kubeconfig is needed: kubectl config view --raw --minify -o json)`);
  }
  const dir = path.dirname(path.resolve(spec));
  const ctxName = cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === ctxName)?.context ?? cfg.contexts?.[0]?.context;
  const cluster = cfg.clusters?.find((c) => c.name === ctx?.cluster)?.cluster ?? cfg.clusters?.[0]?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx?.user)?.user ?? cfg.users?.[0]?.user ?? {};
  if (cluster?.server === undefined) throw err('EINVAL', `kubeconfig ${spec}: no cluster server`);
  if (!cluster.server.startsWith('https://')) throw err('EINVAL', `kubeconfig ${spec}: server ${cluster.server} is not https`);
  const data = async (inline: string | undefined, file: string | undefined): Promise<Buffer | undefined> =>
    inline !== undefined ? Buffer.from(inline, 'base64') : file !== undefined ? readFile(path.resolve(dir, file)) : undefined;
  const tls: Tls = {
    ca: await data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: await data(user['client-certificate-data'], user['client-certificate']),
    key: await data(user['client-key-data'], user['client-key']),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
  };
  const token = user.token ?? (user.tokenFile === undefined ? undefined : (await readFile(path.resolve(dir, user.tokenFile), 'utf8')).trim());
  return httpsClient(cluster.server, tls, async () => token);
}

interface KubeConfig {
  readonly 'current-context'?: string;
  readonly contexts?: readonly { readonly name: string; readonly context: { readonly cluster: string; readonly user: string } }[];
  readonly clusters?: readonly {
    readonly name: string;
    readonly cluster: {
      readonly server?: string;
      readonly 'certificate-authority-data'?: string;
      readonly 'certificate-authority'?: string;
      readonly 'insecure-skip-tls-verify'?: boolean;
    };
  }[];
  readonly users?: readonly {
    readonly name: string;
    readonly user: {
      readonly token?: string;
      readonly tokenFile?: string;
      readonly 'client-certificate-data'?: string;
      readonly 'client-certificate'?: string;
      readonly 'client-key-data'?: string;
      readonly 'client-key'?: string;
    };
  }[];
}

/** At most this much of a reply is read; an API object the driver reads is far smaller. */
const MAX_REPLY = 8 << 20;

function httpsClient(server: string, tls: Tls, token: () => Promise<string | undefined>): KubeClient {
  return {
    server,
    async request(method, p, body, contentType = 'application/json') {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const t = await token();
      const headers: Record<string, string> = { accept: 'application/json' };
      if (t !== undefined && t !== '') headers.authorization = `Bearer ${t}`;
      if (text !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = String(Buffer.byteLength(text));
      }
      const opts: RequestOptions = { method, headers, timeout: 10_000, ...tls };
      return new Promise<KubeReply>((resolve, reject) => {
        const req = request(new URL(p, server), opts, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_REPLY) req.destroy(err('E2BIG', `${method} ${p}: reply over ${MAX_REPLY} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(err('ETIMEDOUT', `${method} ${server}${p}: no answer in 10 s`)));
        req.on('error', reject);
        req.end(text);
      });
    },
  };
}

/** `UmdevError` for a reply that is not 2xx, with the API server's message. */
export function kubeFailure(what: string, r: KubeReply): Error {
  const message = (r.body as { message?: unknown } | undefined)?.message;
  const errno = r.status === 404 ? 'ENOENT' : r.status === 401 || r.status === 403 ? 'EACCES' : r.status === 409 ? 'EEXIST' : r.status === 422 ? 'EINVAL' : 'EIO';
  return err(errno, `${what}: HTTP ${r.status}${typeof message === 'string' ? `: ${message}` : ''}`);
}
