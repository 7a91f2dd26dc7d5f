/**
 * A small local stand-in for the four AWS APIs the health checker calls, on 127.0.0.1 only:
 * ELBv2 (query protocol: DescribeTargetHealth of the port-21 and the passive target groups,
 * RegisterTargets and DeregisterTargets on port 21), EC2 (DescribeInstances by instance-id
 * filter), Secrets Manager (GetSecretValue) and DynamoDB (GetItem, PutItem with the checker's
 * condition). The real SDK clients reach it through the standard AWS_ENDPOINT_URL setting;
 * registering or deregistering here changes the emulated NLB's port-21 target set.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndpointCall {
  readonly service: 'elbv2' | 'ec2' | 'secretsmanager' | 'dynamodb';
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

const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

export class LocalAwsEndpoint {
  readonly calls: EndpointCall[] = [];
  private server?: http.Server;
  private readonly items = new Map<string, Item>();

  constructor(
    private readonly targetGroup: TargetGroupModel,
    private readonly secrets: ReadonlyMap<string, string>,
  ) {}

  /** Start on 127.0.0.1 and return the endpoint URL. */
  async start(): Promise<string> {
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
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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
    const params = new URLSearchParams(body);
    if (params.get('Action') === 'DescribeInstances') return this.ec2(params, res);
    return this.elbv2(params, res);
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
