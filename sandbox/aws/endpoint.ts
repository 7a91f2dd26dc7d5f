/**
 * The HTTP face of the AWS model (./model.ts): a local endpoint on a sandbox address only
 * (127.0.0.1, or the host's 198.18.0.1 for booted backends) that speaks each service's own
 * protocol, so the real SDK clients and the AWS CLI reach it through the standard
 * AWS_ENDPOINT_URL setting, and curl's SigV4 reaches its S3. What it serves:
 * - the checker's calls: ELBv2 DescribeTargetHealth, RegisterTargets, DeregisterTargets (query
 *   protocol), EC2 DescribeInstances, Secrets Manager GetSecretValue, DynamoDB GetItem, PutItem, UpdateItem, DeleteItem and Query;
 * - the boot's: Secrets Manager, S3 GetObject/HeadObject, Auto Scaling CompleteLifecycleAction.
 * Every request is authenticated (SigV4, ./sigv4.ts) and then authorized as IAM would (./iam.ts)
 * before the model sees it; there is no switch to skip either.
 * Every answer, error included, comes from the model: a model AwsError becomes that protocol's
 * error document with AWS's code and status. Anything else is refused as an unsupported action.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorizationOf, DENIAL, denialShapeOf, type IamEnforcer } from './iam';
import { AwsError, type AwsModel, type DynamoItem } from './model';
import { AUTH_ERRORS, type AuthFailure, CredentialRegistry, verifySigV4 } from './sigv4';

/**
 * Where a custom resource's ResponseURL points in the sandbox. On AWS it is an S3 URL that
 * CloudFormation pre-signed (the signature is in its query, and the function sends no credentials);
 * the endpoint takes the PUT as S3 would and keeps the response for the sandbox to read.
 */
export const CFN_RESPONSE_PATH = '/cloudformation-custom-resource-response/';

export interface EndpointCall {
  readonly service: 'elbv2' | 'ec2' | 'secretsmanager' | 'dynamodb' | 's3' | 'autoscaling';
  readonly action: string;
  readonly at: number;
  readonly targets?: readonly string[];
  /** Whose signed credentials made it ('anonymous' for an unsigned read of a public bucket). */
  readonly principal: string;
  /** Set when IAM denied it: the model never saw it. */
  readonly denied?: true;
}

const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const ASG_NS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
/** EC2's instance state codes, by name. */
const EC2_STATE_CODE: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

export class LocalAwsEndpoint {
  readonly calls: EndpointCall[] = [];
  private server?: http.Server;

  /** The credentials this endpoint accepts, each issued to one principal. */
  readonly credentials = new CredentialRegistry();
  /** Requests refused before any service saw them (no, unknown or wrong SigV4). */
  readonly refused: Array<{ readonly at: number; readonly failure: AuthFailure; readonly url: string }> = [];
  /** Custom resource responses, by the request ID in their ResponseURL's path. */
  readonly customResourceResponses = new Map<string, Record<string, unknown>>();
  /** Told of every call IAM denied, with AWS's message (the sandbox logs it). */
  onDenied: (message: string) => void = () => undefined;
  /** The principal of the request being served (requests are served one at a time, synchronously). */
  private principal = '';

  constructor(
    readonly model: AwsModel,
    readonly iam: IamEnforcer,
  ) {}

  /** Start on `host` (a sandbox address) and return the endpoint URL. */
  async start(host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        this.handle(req, Buffer.concat(chunks), res).catch((err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err.message));
        });
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, host, r));
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  /** Which protocol family a request speaks, for its error documents. */
  private protocolOf(req: http.IncomingMessage, body: string): 'json' | 'query' | 'ec2' | 's3' {
    if (req.headers['x-amz-target']) return 'json';
    if (req.method === 'GET' || req.method === 'HEAD') return 's3';
    return new URLSearchParams(body).get('Action') === 'DescribeInstances' ? 'ec2' : 'query';
  }

  /** Authenticate (SigV4, or anonymous for a public bucket's objects), then serve. */
  private async handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): Promise<void> {
    const body = raw.toString('utf8');
    if (req.method === 'PUT' && (req.url ?? '').startsWith(CFN_RESPONSE_PATH)) {
      const id = decodeURIComponent((req.url ?? '').slice(CFN_RESPONSE_PATH.length).split('?')[0]);
      this.customResourceResponses.set(id, JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200, { etag: '"sandbox"' });
      res.end();
      return;
    }
    const protocol = this.protocolOf(req, body);
    const anonymousPublic = protocol === 's3' && !req.headers.authorization && this.model.publicBuckets.has(this.s3Target(req).bucket);
    if (!anonymousPublic) {
      const v = await verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: raw }, this.credentials);
      if (!v.ok) {
        this.refused.push({ at: Date.now(), failure: v.failure, url: req.url ?? '' });
        this.authError(res, protocol, v.failure, req.method === 'HEAD');
        return;
      }
      this.principal = v.principal;
    } else {
      this.principal = 'anonymous';
    }
    // A public bucket's objects are anyone's by the bucket's own policy, outside the template.
    if (!anonymousPublic) {
      const { service, action, resource } = this.iamRequest(req, body, protocol);
      try {
        await this.iam.authorize(this.principal, action, resource);
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        this.calls.push({ service, action: action.split(':')[1], at: Date.now(), principal: this.principal, denied: true });
        this.onDenied(err.message);
        this.denial(res, err, action, req.method === 'HEAD');
        return;
      }
    }
    this.dispatch(req, body, res);
  }

  /** The IAM action and resource ARN of a request, as AWS authorizes it (./iam.ts authorizationOf, with the SDK's names). */
  private iamRequest(
    req: http.IncomingMessage,
    body: string,
    protocol: 'json' | 'query' | 'ec2' | 's3',
  ): { service: EndpointCall['service']; action: string; resource: string } {
    const [service, serviceId, op, input] = ((): [EndpointCall['service'], string, string, Record<string, unknown>] => {
      if (protocol === 's3') {
        const { bucket, key } = this.s3Target(req);
        return ['s3', 'S3', req.method === 'HEAD' ? 'HeadObject' : 'GetObject', { Bucket: bucket, Key: key }];
      }
      if (protocol === 'json') {
        const [prefix, target] = String(req.headers['x-amz-target']).split('.');
        const input = JSON.parse(body || '{}') as Record<string, unknown>;
        return prefix === 'secretsmanager' ? ['secretsmanager', 'Secrets Manager', target, input] : ['dynamodb', 'DynamoDB', target, input];
      }
      const params = new URLSearchParams(body);
      const action = params.get('Action') ?? '';
      const input = Object.fromEntries(params);
      if (protocol === 'ec2') return ['ec2', 'EC2', action, input];
      if (action === 'CompleteLifecycleAction') return ['autoscaling', 'Auto Scaling', action, input];
      return ['elbv2', 'Elastic Load Balancing v2', action, input];
    })();
    const [one] = authorizationOf(serviceId, op, input, this.iam.where);
    return { service, ...one };
  }

  /** IAM's denial in the service's own error shape. */
  private denial(res: http.ServerResponse, err: AwsError, action: string, head: boolean): void {
    const shape = denialShapeOf(action);
    if (shape === 'json' || shape === 'dynamodb') {
      const type = shape === 'dynamodb' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
      const code = shape === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${err.code}` : err.code;
      this.json(res, DENIAL[shape].status, { __type: code, Message: err.message }, type);
      return;
    }
    this.xmlError(res, shape, err.code, err.message, err.status, head);
  }

  /** An error document of the XML protocols: S3's, EC2's, and the query protocol's (ELBv2, Auto Scaling). */
  private xmlError(
    res: http.ServerResponse,
    shape: 's3' | 'ec2' | 'query',
    code: string,
    message: string,
    status: number,
    head: boolean,
  ): void {
    res.writeHead(status, { 'content-type': 'text/xml' });
    if (head) return void res.end();
    const msg = xmlEscape(message);
    if (shape === 's3') res.end(`<Error><Code>${code}</Code><Message>${msg}</Message></Error>`);
    else if (shape === 'ec2')
      res.end(
        `<Response><Errors><Error><Code>${code}</Code><Message>${msg}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
      );
    else
      res.end(
        `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${msg}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
  }

  /** An authentication failure in the protocol's own error shape. */
  private authError(res: http.ServerResponse, protocol: 'json' | 'query' | 'ec2' | 's3', failure: AuthFailure, head: boolean): void {
    const e = AUTH_ERRORS[failure];
    const code = e[protocol];
    if (protocol === 'json') {
      res.writeHead(e.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code });
      res.end(JSON.stringify({ __type: code, message: e.message }));
      return;
    }
    this.xmlError(res, protocol, code, e.message, e.status, head);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private dispatch(req: http.IncomingMessage, body: string, res: http.ServerResponse): boolean {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('secretsmanager.')) return this.secretsManager(target.split('.')[1], body, res);
    if (target.startsWith('DynamoDB_20120810.')) return this.dynamo(target.split('.')[1], body, res);
    if (req.method === 'GET' || req.method === 'HEAD') return this.s3(req, res);
    const params = new URLSearchParams(body);
    if (params.get('Action') === 'DescribeInstances') return this.ec2(params, res);
    if (params.get('Action') === 'CompleteLifecycleAction') return this.autoscaling(params, res);
    return this.elbv2(params, res);
  }

  /** The protocol's error document for an AwsError (AWS's code, message and status). */
  private queryError(res: http.ServerResponse, err: AwsError, ns: string): boolean {
    res.writeHead(err.status, { 'content-type': 'text/xml' });
    res.end(
      `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
    return true;
  }

  /** Run a model operation; an AwsError is answered with `onError`, anything else is a 500. */
  private answer(op: () => boolean, onError: (err: AwsError) => boolean): boolean {
    try {
      return op();
    } catch (err) {
      if (err instanceof AwsError) return onError(err);
      throw err;
    }
  }

  /** An S3 request's bucket and key, path-style or virtual-hosted. */
  private s3Target(req: http.IncomingMessage): { bucket: string; key: string } {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const host = String(req.headers.host ?? '').split(':')[0];
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const virtual = /[a-z]/.test(host) && host.includes('.') && !/^\d+\.\d+\.\d+\.\d+$/.test(host);
    const [bucket, key] = virtual ? [host.split('.')[0], parts.join('/')] : [parts[0], parts.slice(1).join('/')];
    return { bucket, key };
  }

  /** S3 GetObject and HeadObject. */
  private s3(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const { bucket, key } = this.s3Target(req);
    const head = req.method === 'HEAD';
    this.calls.push({
      service: 's3',
      action: head ? 'HeadObject' : 'GetObject',
      at: Date.now(),
      principal: this.principal,
      targets: [`${bucket}/${key}`],
    });
    return this.answer(
      () => {
        const body = this.model.getObject(bucket, key);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': body.length,
          etag: '"sandbox"',
          'last-modified': new Date(0).toUTCString(),
        });
        res.end(head ? undefined : body);
        return true;
      },
      (err) => {
        res.writeHead(err.status, { 'content-type': 'application/xml' });
        res.end(
          head
            ? undefined
            : `<Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message><Key>${xmlEscape(key)}</Key></Error>`,
        );
        return true;
      },
    );
  }

  private autoscaling(params: URLSearchParams, res: http.ServerResponse): boolean {
    const c = {
      group: params.get('AutoScalingGroupName') ?? '',
      hook: params.get('LifecycleHookName') ?? '',
      instanceId: params.get('InstanceId') ?? '',
      result: params.get('LifecycleActionResult') ?? '',
    };
    this.calls.push({
      service: 'autoscaling',
      action: 'CompleteLifecycleAction',
      at: Date.now(),
      principal: this.principal,
      targets: [c.instanceId, c.result],
    });
    return this.answer(
      () => {
        this.model.completeLifecycleAction(c);
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<CompleteLifecycleActionResponse xmlns="${ASG_NS}"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`,
        );
        return true;
      },
      (err) => this.queryError(res, err, ASG_NS),
    );
  }

  private json(res: http.ServerResponse, status: number, payload: unknown, type = 'application/x-amz-json-1.1'): boolean {
    res.writeHead(status, { 'content-type': type, 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(payload));
    return true;
  }

  private secretsManager(action: string, body: string, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'secretsmanager', action, at: Date.now(), principal: this.principal });
    const input = JSON.parse(body || '{}') as { SecretId?: string; SecretString?: string };
    return this.answer(
      () => {
        if (action === 'PutSecretValue') {
          const s = this.model.putSecretValue(input.SecretId ?? '', input.SecretString ?? '');
          return this.json(res, 200, { ARN: s.arn, Name: s.arn, VersionId: randomUUID(), VersionStages: ['AWSCURRENT'] });
        }
        if (action !== 'GetSecretValue') throw new AwsError('InvalidAction', `unsupported action ${action}`);
        const s = this.model.getSecretValue(input.SecretId ?? '');
        return this.json(res, 200, { ARN: s.arn, Name: s.arn, SecretString: s.value, VersionId: 'v1', CreatedDate: 0 });
      },
      (err) => this.json(res, err.status, { __type: err.code, message: err.message }),
    );
  }

  private dynamo(action: string, body: string, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'dynamodb', action, at: Date.now(), principal: this.principal });
    const type = 'application/x-amz-json-1.0';
    const input = JSON.parse(body || '{}') as {
      TableName: string;
      Key?: DynamoItem;
      Item?: DynamoItem;
      ConditionExpression?: string;
      ExpressionAttributeValues?: DynamoItem;
      UpdateExpression?: string;
      KeyConditionExpression?: string;
    };
    return this.answer(
      () => {
        if (action === 'GetItem') {
          const item = this.model.getItem(input.TableName, input.Key ?? {});
          return this.json(res, 200, item ? { Item: item } : {}, type);
        }
        if (action === 'PutItem') {
          this.model.putItem(input.TableName, input.Item ?? {}, input.ConditionExpression, input.ExpressionAttributeValues);
          return this.json(res, 200, {}, type);
        }
        if (action === 'UpdateItem') {
          this.model.updateItem(input.TableName, input.Key ?? {}, input.UpdateExpression ?? '', input.ExpressionAttributeValues);
          return this.json(res, 200, {}, type);
        }
        if (action === 'DeleteItem') {
          this.model.deleteItem(input.TableName, input.Key ?? {});
          return this.json(res, 200, {}, type);
        }
        if (action === 'Query') {
          const items = this.model.query(input.TableName, input.KeyConditionExpression ?? '', input.ExpressionAttributeValues);
          return this.json(res, 200, { Items: items, Count: items.length, ScannedCount: items.length }, type);
        }
        throw new AwsError('ValidationException', `unsupported action ${action}`);
      },
      (err) => this.json(res, err.status, { __type: `com.amazonaws.dynamodb.v20120810#${err.code}`, message: err.message }, type),
    );
  }

  private ec2(params: URLSearchParams, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'ec2', action: 'DescribeInstances', at: Date.now(), principal: this.principal });
    const ids: string[] = [];
    for (let f = 1; params.has(`Filter.${f}.Name`); f++) {
      if (params.get(`Filter.${f}.Name`) !== 'instance-id') continue;
      for (let v = 1; params.has(`Filter.${f}.Value.${v}`); v++) ids.push(params.get(`Filter.${f}.Value.${v}`) as string);
    }
    const items = this.model
      .describeInstances(ids)
      .map((i) => {
        const tags = Object.entries(i.tags)
          .map(([k, v]) => `<item><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></item>`)
          .join('');
        return `<item><reservationId>r-${xmlEscape(i.id)}</reservationId><instancesSet><item><instanceId>${xmlEscape(i.id)}</instanceId><instanceState><code>${EC2_STATE_CODE[i.state] ?? 0}</code><name>${xmlEscape(i.state)}</name></instanceState><privateIpAddress>${xmlEscape(i.privateIp)}</privateIpAddress><tagSet>${tags}</tagSet></item></instancesSet></item>`;
      })
      .join('');
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><reservationSet>${items}</reservationSet></DescribeInstancesResponse>`,
    );
    return true;
  }

  private elbv2(params: URLSearchParams, res: http.ServerResponse): boolean {
    const action = params.get('Action') ?? '';
    const arn = params.get('TargetGroupArn') ?? '';
    const targets: string[] = [];
    for (let i = 1; params.has(`Targets.member.${i}.Id`); i++) targets.push(params.get(`Targets.member.${i}.Id`) as string);
    this.calls.push({ service: 'elbv2', action, at: Date.now(), principal: this.principal, targets });
    const requestId = `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>`;
    const reply = (xml: string): boolean => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(xml);
      return true;
    };
    return this.answer(
      () => {
        switch (action) {
          case 'DescribeTargetHealth': {
            const members = this.model
              .describeTargetHealth(arn)
              .map(
                (t) =>
                  `<member><Target><Id>${xmlEscape(t.id)}</Id><Port>${t.port}</Port></Target><HealthCheckPort>${t.port}</HealthCheckPort><TargetHealth><State>${xmlEscape(t.state)}</State></TargetHealth></member>`,
              )
              .join('');
            return reply(
              `<DescribeTargetHealthResponse xmlns="${ELB_NS}"><DescribeTargetHealthResult><TargetHealthDescriptions>${members}</TargetHealthDescriptions></DescribeTargetHealthResult>${requestId}</DescribeTargetHealthResponse>`,
            );
          }
          case 'RegisterTargets':
          case 'DeregisterTargets':
            if (action === 'RegisterTargets') this.model.registerTargets(arn, targets);
            else this.model.deregisterTargets(arn, targets);
            return reply(`<${action}Response xmlns="${ELB_NS}"><${action}Result/>${requestId}</${action}Response>`);
          default:
            throw new AwsError('InvalidAction', `unsupported action ${action}`);
        }
      },
      (err) => this.queryError(res, err, ELB_NS),
    );
  }
}
