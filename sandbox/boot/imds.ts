/**
 * The sandbox's stand-in for EC2's instance metadata service (IMDSv2 only: a GET without a token
 * from PUT /latest/api/token is refused with 401, as with `HttpTokens: required`). One server for
 * every booted backend, on the host's sandbox address; each backend's namespace sends
 * 169.254.169.254:80 to it (DNAT), and the answer depends on the asking backend's address:
 * instance ID, region, AZ and the role's (fake) credentials for the AWS CLI.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface InstanceIdentity {
  readonly instanceId: string;
  readonly region: string;
  readonly availabilityZone: string;
  readonly privateIp: string;
  readonly roleName: string;
  /** The role's temporary credentials, issued by the local AWS endpoint to the instance role. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

export class LocalImds {
  private server?: http.Server;
  private readonly byIp = new Map<string, InstanceIdentity>();
  private readonly tokens = new Map<string, number>();
  /** Requests answered, by path, for tests ("did the boot really ask IMDS?"). */
  readonly served: string[] = [];

  /** What the backend at `ip` is now (a replacement gets a new identity at the same address). */
  set(ip: string, identity: InstanceIdentity): void {
    this.byIp.set(ip, identity);
  }

  async start(host: string): Promise<number> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, host, r));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const send = (status: number, body: string): boolean => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
      return true;
    };
    const url = req.url ?? '';
    if (req.method === 'PUT' && url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!(ttl >= 1 && ttl <= 21600)) return send(400, 'missing or invalid X-aws-ec2-metadata-token-ttl-seconds');
      const token = randomBytes(24).toString('base64url');
      this.tokens.set(token, Date.now() + ttl * 1000);
      return send(200, token);
    }
    const token = String(req.headers['x-aws-ec2-metadata-token'] ?? '');
    if (!((this.tokens.get(token) ?? 0) > Date.now())) return send(401, 'Unauthorized');
    const me = this.byIp.get((req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    if (!me) return send(404, 'Not Found');
    this.served.push(url);
    const creds = () =>
      JSON.stringify({
        Code: 'Success',
        LastUpdated: new Date().toISOString(),
        Type: 'AWS-HMAC',
        AccessKeyId: me.credentials.accessKeyId,
        SecretAccessKey: me.credentials.secretAccessKey,
        Token: me.credentials.sessionToken,
        Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
      });
    const paths: Record<string, () => string> = {
      '/latest/meta-data/instance-id': () => me.instanceId,
      '/latest/meta-data/placement/region': () => me.region,
      '/latest/meta-data/placement/availability-zone': () => me.availabilityZone,
      '/latest/meta-data/local-ipv4': () => me.privateIp,
      '/latest/meta-data/iam/security-credentials/': () => me.roleName,
      [`/latest/meta-data/iam/security-credentials/${me.roleName}`]: creds,
    };
    const answer = paths[url];
    return answer ? send(200, answer()) : send(404, 'Not Found');
  }
}
