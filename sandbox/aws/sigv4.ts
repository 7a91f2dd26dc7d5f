/**
 * Who is calling the local AWS endpoint: credentials the sandbox issues to one principal of the
 * template each (an instance role through IMDS, the checker's function role, a test's own), and
 * the SigV4 check of every request against them, with AWS's own signer (@smithy/signature-v4, as
 * the SDK signs): the endpoint recomputes the signature over the request as received and compares.
 * An unsigned request, an unknown key, a wrong session token, a stale date or a wrong signature is
 * refused as AWS refuses it (the endpoint renders the error in the service's protocol).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Temporary credentials (a role's, through IMDS) carry a session token that must come with them. */
  readonly sessionToken?: string;
  /** Who they belong to: the template's logical ID of the role, or a test's own name. */
  readonly principal: string;
}

/** Why a request is refused: the endpoint maps each to the service's own error code. */
export type AuthFailure = 'missing' | 'unknown-key' | 'bad-token' | 'expired' | 'mismatch';

/** AWS's wording for each failure, per protocol family (JSON services, query services, EC2, S3). */
export const AUTH_ERRORS: Record<AuthFailure, { json: string; query: string; ec2: string; s3: string; status: number; message: string }> = {
  missing: {
    json: 'MissingAuthenticationTokenException',
    query: 'MissingAuthenticationToken',
    ec2: 'AuthFailure',
    s3: 'AccessDenied',
    status: 403,
    message: 'Missing Authentication Token',
  },
  'unknown-key': {
    json: 'UnrecognizedClientException',
    query: 'InvalidClientTokenId',
    ec2: 'AuthFailure',
    s3: 'InvalidAccessKeyId',
    status: 403,
    message: 'The security token included in the request is invalid.',
  },
  'bad-token': {
    json: 'UnrecognizedClientException',
    query: 'InvalidClientTokenId',
    ec2: 'AuthFailure',
    s3: 'InvalidToken',
    status: 403,
    message: 'The security token included in the request is invalid.',
  },
  expired: {
    json: 'InvalidSignatureException',
    query: 'SignatureDoesNotMatch',
    ec2: 'AuthFailure',
    s3: 'RequestTimeTooSkewed',
    status: 403,
    message: 'Signature expired: the request time is more than 15 minutes from the current time.',
  },
  mismatch: {
    json: 'InvalidSignatureException',
    query: 'SignatureDoesNotMatch',
    ec2: 'AuthFailure',
    s3: 'SignatureDoesNotMatch',
    status: 403,
    message:
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
  },
};

/** SHA-256 (or HMAC-SHA-256 with a key) in the shape the signer takes. */
type Source = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Source): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

class Sha256 {
  private readonly h;
  constructor(secret?: Source) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Source): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

export class CredentialRegistry {
  private readonly byKey = new Map<string, IssuedCredentials>();

  /** New credentials for a principal; `temporary` ones (a role's) carry a session token. */
  issue(principal: string, temporary = false): IssuedCredentials {
    const c: IssuedCredentials = {
      accessKeyId: `${temporary ? 'ASIA' : 'AKIA'}${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: temporary ? randomBytes(48).toString('base64') : undefined,
      principal,
    };
    this.byKey.set(c.accessKeyId, c);
    return c;
  }

  get(accessKeyId: string): IssuedCredentials | undefined {
    return this.byKey.get(accessKeyId);
  }
}

export interface ReceivedRequest {
  readonly method: string;
  /** The path and query as sent. */
  readonly url: string;
  /** Node's lowercased headers. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export type Verified =
  | { readonly ok: true; readonly principal: string; readonly service: string; readonly region: string }
  | { readonly ok: false; readonly failure: AuthFailure };

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Verify a request's SigV4 Authorization header against the issued credentials. */
export async function verifySigV4(req: ReceivedRequest, registry: CredentialRegistry, now = Date.now()): Promise<Verified> {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const auth = header('authorization');
  if (!auth) return { ok: false, failure: 'missing' };
  const m = AUTH.exec(auth.trim());
  if (!m) return { ok: false, failure: 'mismatch' };
  const [, keyId, day, region, service, signedList, signature] = m;
  const creds = registry.get(keyId);
  if (!creds) return { ok: false, failure: 'unknown-key' };
  if ((creds.sessionToken ?? '') !== (header('x-amz-security-token') ?? '')) return { ok: false, failure: 'bad-token' };
  const amzDate = header('x-amz-date') ?? '';
  const dm = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
  if (!dm || !amzDate.startsWith(day)) return { ok: false, failure: 'mismatch' };
  const signingDate = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
  if (Math.abs(signingDate.getTime() - now) > 15 * 60_000) return { ok: false, failure: 'expired' };

  const signed = signedList.split(';');
  const headers: Record<string, string> = {};
  for (const h of signed) {
    const v = header(h);
    if (v === undefined) return { ok: false, failure: 'mismatch' };
    headers[h] = v;
  }
  const url = new URL(req.url, 'http://endpoint');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
    region,
    service,
    sha256: Sha256,
    // S3 signs the path as sent; every other service escapes it once more.
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
  const host = (headers.host ?? '').split(':');
  const resigned = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: host[0],
      port: host[1] ? Number(host[1]) : undefined,
      path: url.pathname,
      query,
      headers,
      body: req.body.length ? req.body : undefined,
    },
    { signingDate, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization ?? ''))?.[1] ?? '';
  const same = expected.length === 64 && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  return same ? { ok: true, principal: creds.principal, service, region } : { ok: false, failure: 'mismatch' };
}
