/**
 * A small local stand-in for the AWS APIs the health checker and the booted backends call, on a
 * sandbox address only (127.0.0.1, or the host's 198.18.0.1 for booted backends). The checker's:
 * ELBv2 (query protocol: DescribeTargetHealth of the port-21 and the passive target groups,
 * RegisterTargets and DeregisterTargets on port 21), EC2 (DescribeInstances by instance-id
 * filter), Secrets Manager (GetSecretValue) and DynamoDB (GetItem, PutItem with the checker's
 * condition). The boot's (AWS CLI v2): Secrets Manager, S3 GetObject/HeadObject of the objects
 * given (the converter asset, the agents' stand-ins) and Auto Scaling CompleteLifecycleAction. The
 * real SDK clients and the AWS CLI reach it through the standard AWS_ENDPOINT_URL setting;
 * registering or deregistering here changes the emulated NLB's port-21 target set.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndpointCall {
  readonly service: 'elbv2' | 'ec2' | 'secretsmanager' | 'dynamodb' | 's3' | 'autoscaling';
  readonly action: string;
  readonly at: number;
  readonly targets?: readonly string[];
}

export interface TargetGroupModel {
  readonly arn: string;
  /** Instance IDs registered on port 21. */
  readonly registered: Set<string>;
  /** The NLB's view of a registered target. */
  health(instanceId: string): string;
  /** Called after every change of `registered`. */
  onChange(): void;
  /** Passive target group ARN -> the instance IDs it holds now; undefined for an unknown ARN. */
  passiveMembers(arn: string): readonly string[] | undefined;
  /** An instance as EC2 describes it; undefined once it is gone. */
  instance(id: string): { readonly privateIp: string; readonly state: string; readonly tags: Record<string, string> } | undefined;
}

type Item = Record<string, Record<string, string>>;

/** A launch lifecycle hook's completion, as a boot reports it. */
export interface LifecycleCompletion {
  readonly group: string;
  readonly hook: string;
  readonly instanceId: string;
  readonly result: string;
}

const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

export class LocalAwsEndpoint {
  readonly calls: EndpointCall[] = [];
  private server?: http.Server;
  private readonly items = new Map<string, Item>();
  /** S3 objects by `bucket/key`: their bytes. */
  readonly objects = new Map<string, Buffer>();
  /** Called for every CompleteLifecycleAction. */
  onLifecycle: (c: LifecycleCompletion) => void = () => undefined;

  constructor(
    private readonly targetGroup: TargetGroupModel,
    private readonly secrets: Map<string, string>,
  ) {}

  /** Put or replace a secret's value (a boot drill's malformed users secret), or delete it. */
  setSecret(arn: string, value: string | undefined): void {
    if (value === undefined) this.secrets.delete(arn);
    else this.secrets.set(arn, value);
  }

  /** Start on `host` (a sandbox address) and return the endpoint URL. */
  async start(host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        try {
          this.dispatch(req, body, res);
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String((err as Error).message));
        }
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, host, r));
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
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

  /** S3 GetObject and HeadObject, path-style or virtual-hosted. */
  private s3(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const host = String(req.headers.host ?? '').split(':')[0];
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const virtual = /[a-z]/.test(host) && host.includes('.') && !/^\d+\.\d+\.\d+\.\d+$/.test(host);
    const [bucket, key] = virtual ? [host.split('.')[0], parts.join('/')] : [parts[0], parts.slice(1).join('/')];
    const body = this.objects.get(`${bucket}/${key}`);
    this.calls.push({
      service: 's3',
      action: req.method === 'HEAD' ? 'HeadObject' : 'GetObject',
      at: Date.now(),
      targets: [`${bucket}/${key}`],
    });
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${xmlEscape(key)}</Key></Error>`,
      );
      return true;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      etag: '"sandbox"',
      'last-modified': new Date(0).toUTCString(),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  private autoscaling(params: URLSearchParams, res: http.ServerResponse): boolean {
    const c: LifecycleCompletion = {
      group: params.get('AutoScalingGroupName') ?? '',
      hook: params.get('LifecycleHookName') ?? '',
      instanceId: params.get('InstanceId') ?? '',
      result: params.get('LifecycleActionResult') ?? '',
    };
    this.calls.push({ service: 'autoscaling', action: 'CompleteLifecycleAction', at: Date.now(), targets: [c.instanceId, c.result] });
    this.onLifecycle(c);
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`,
    );
    return true;
  }

  private json(res: http.ServerResponse, status: number, payload: unknown, type = 'application/x-amz-json-1.1'): boolean {
    res.writeHead(status, { 'content-type': type, 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(payload));
    return true;
  }

  private secretsManager(action: string, body: string, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'secretsmanager', action, at: Date.now() });
    const input = JSON.parse(body || '{}') as { SecretId?: string };
    const value = action === 'GetSecretValue' && input.SecretId ? this.secrets.get(input.SecretId) : undefined;
    if (value === undefined) {
      return this.json(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    }
    return this.json(res, 200, { ARN: input.SecretId, Name: input.SecretId, SecretString: value, VersionId: 'v1', CreatedDate: 0 });
  }

  private dynamo(action: string, body: string, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'dynamodb', action, at: Date.now() });
    const type = 'application/x-amz-json-1.0';
    const input = JSON.parse(body || '{}') as {
      TableName: string;
      Key?: Item;
      Item?: Item;
      ConditionExpression?: string;
      ExpressionAttributeValues?: Item;
    };
    if (action === 'GetItem') {
      const item = this.items.get(`${input.TableName}/${JSON.stringify(input.Key)}`);
      return this.json(res, 200, item ? { Item: item } : {}, type);
    }
    if (action === 'PutItem' && input.Item) {
      const key = `${input.TableName}/${JSON.stringify({ pk: input.Item.pk })}`;
      const current = this.items.get(key);
      if (input.ConditionExpression) {
        // The checker's conditions only: its versioned state, and its round lease (take, give back).
        const values = input.ExpressionAttributeValues ?? {};
        const holds: Record<string, () => boolean> = {
          'attribute_not_exists(pk) OR version = :v': () => !current || current.version?.N === values[':v']?.N,
          'attribute_not_exists(pk) OR expiresAt < :now': () => !current || Number(current.expiresAt?.N) < Number(values[':now']?.N),
          'holder = :me': () => current !== undefined && current.holder?.S === values[':me']?.S,
        };
        const check = holds[input.ConditionExpression];
        if (!check) {
          return this.json(res, 400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'unsupported condition' }, type);
        }
        if (!check()) {
          return this.json(
            res,
            400,
            { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', message: 'The conditional request failed' },
            type,
          );
        }
      }
      this.items.set(key, input.Item);
      return this.json(res, 200, {}, type);
    }
    return this.json(res, 400, { __type: 'com.amazon.coral.validate#ValidationException', message: `unsupported action ${action}` }, type);
  }

  private ec2(params: URLSearchParams, res: http.ServerResponse): boolean {
    this.calls.push({ service: 'ec2', action: 'DescribeInstances', at: Date.now() });
    const ids: string[] = [];
    for (let f = 1; params.has(`Filter.${f}.Name`); f++) {
      if (params.get(`Filter.${f}.Name`) !== 'instance-id') continue;
      for (let v = 1; params.has(`Filter.${f}.Value.${v}`); v++) ids.push(params.get(`Filter.${f}.Value.${v}`) as string);
    }
    const items = ids
      .map((id) => [id, this.targetGroup.instance(id)] as const)
      .filter(([, i]) => i !== undefined)
      .map(([id, i]) => {
        const tags = Object.entries(i?.tags ?? {})
          .map(([k, v]) => `<item><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></item>`)
          .join('');
        return `<item><reservationId>r-${xmlEscape(id)}</reservationId><instancesSet><item><instanceId>${xmlEscape(id)}</instanceId><instanceState><code>16</code><name>${xmlEscape(i?.state ?? '')}</name></instanceState><privateIpAddress>${xmlEscape(i?.privateIp ?? '')}</privateIpAddress><tagSet>${tags}</tagSet></item></instancesSet></item>`;
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
    const targets: string[] = [];
    for (let i = 1; params.has(`Targets.member.${i}.Id`); i++) targets.push(params.get(`Targets.member.${i}.Id`) as string);
    this.calls.push({ service: 'elbv2', action, at: Date.now(), targets });
    const tg = this.targetGroup;
    const requestId = `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>`;
    const reply = (status: number, xml: string): boolean => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(xml);
      return true;
    };
    const passive = tg.passiveMembers(params.get('TargetGroupArn') ?? '');
    if (passive && action === 'DescribeTargetHealth') {
      // The sandbox's passive target groups answer only who is in them, healthy (its NLB forwards regardless).
      const members = passive
        .map((id) => `<member><Target><Id>${xmlEscape(id)}</Id></Target><TargetHealth><State>healthy</State></TargetHealth></member>`)
        .join('');
      return reply(
        200,
        `<DescribeTargetHealthResponse xmlns="${ELB_NS}"><DescribeTargetHealthResult><TargetHealthDescriptions>${members}</TargetHealthDescriptions></DescribeTargetHealthResult>${requestId}</DescribeTargetHealthResponse>`,
      );
    }
    if (params.get('TargetGroupArn') !== tg.arn) {
      return reply(
        400,
        `<ErrorResponse xmlns="${ELB_NS}"><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code><Message>One or more target groups not found</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    }
    switch (action) {
      case 'DescribeTargetHealth': {
        const members = [...tg.registered]
          .map(
            (id) =>
              `<member><Target><Id>${xmlEscape(id)}</Id><Port>21</Port></Target><HealthCheckPort>21</HealthCheckPort><TargetHealth><State>${tg.health(id)}</State></TargetHealth></member>`,
          )
          .join('');
        return reply(
          200,
          `<DescribeTargetHealthResponse xmlns="${ELB_NS}"><DescribeTargetHealthResult><TargetHealthDescriptions>${members}</TargetHealthDescriptions></DescribeTargetHealthResult>${requestId}</DescribeTargetHealthResponse>`,
        );
      }
      case 'RegisterTargets':
      case 'DeregisterTargets': {
        for (const id of targets) {
          if (action === 'RegisterTargets') tg.registered.add(id);
          else tg.registered.delete(id);
        }
        tg.onChange();
        return reply(200, `<${action}Response xmlns="${ELB_NS}"><${action}Result/>${requestId}</${action}Response>`);
      }
      default:
        return reply(
          400,
          `<ErrorResponse xmlns="${ELB_NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${xmlEscape(action)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        );
    }
  }
}
