/**
 * One model of the AWS that nlb-ftp talks to, behind every stand-in: EC2 instances and their tags,
 * ELBv2 target groups, Auto Scaling groups with their launch lifecycle hook, Secrets Manager
 * secrets, S3 objects, DynamoDB tables with conditional writes, and CloudFormation stack outputs.
 *
 * It has two faces and no protocol of its own:
 * - the HTTP endpoint (./endpoint.ts): the sandbox, the AWS CLI in a booted backend, curl's SigV4;
 * - mocked SDK clients (./sdk-mock.ts): the unit and handler tests.
 * Both call the operations below and turn an AwsError into what that face's caller sees, so a
 * rule (a condition expression, a lifecycle action that is not pending) exists once.
 *
 * What it models is what nlb-ftp relies on, with AWS's error codes; anything else is refused by
 * the faces as an unsupported action rather than answered wrongly. Pure: no I/O.
 */

/** An AWS error as the service returns it: its code (the SDK's error name), message and HTTP status. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

export type DynamoValue = { readonly S?: string; readonly N?: string };
export type DynamoItem = Record<string, DynamoValue>;

export interface Ec2Instance {
  privateIp: string;
  /** EC2's state name: pending, running, stopped, shutting-down, terminated. */
  state: string;
  tags: Record<string, string>;
}

export interface GroupInstance {
  readonly id: string;
  /** Auto Scaling's lifecycle state: Pending, Pending:Wait, InService, Terminating. */
  lifecycle: string;
  /** The launch template version it was launched from. */
  version: string;
  protectedFromScaleIn: boolean;
}

export interface AutoScalingGroup {
  readonly name: string;
  readonly launchTemplateId: string;
  /** The launch template version new instances get. */
  version: string;
  min: number;
  max: number;
  desired: number;
  readonly suspended: Set<string>;
  instances: GroupInstance[];
  /** The target groups its instances join when they go into service. */
  readonly targetGroups: readonly string[];
  /** Its launch lifecycle hook: a new instance waits in Pending:Wait until the hook completes. */
  readonly launchHook?: string;
}

export interface LifecycleCompletion {
  readonly group: string;
  readonly hook: string;
  readonly instanceId: string;
  readonly result: string;
}

/**
 * The conditions of the checker's writes (lambda/health-checker/state-store.ts), as DynamoDB
 * evaluates them against the item that is there. Any other expression is refused as DynamoDB
 * refuses what it cannot parse, so a new condition in the code fails here until it is modelled.
 */
const CONDITIONS: Record<string, (current: DynamoItem | undefined, values: DynamoItem) => boolean> = {
  'attribute_not_exists(pk) OR version = :v': (c, v) => !c || c.version?.N === v[':v']?.N,
  'attribute_not_exists(pk) OR expiresAt < :now': (c, v) => !c || Number(c.expiresAt?.N) < Number(v[':now']?.N),
  'holder = :me': (c, v) => c !== undefined && c.holder?.S === v[':me']?.S,
  // The ban agent's (lib/backend/scripts/nlb-ftp-bans.py): one backend decides each ban.
  'attribute_not_exists(pk) OR endsAt < :now': (c, v) => !c || Number(c.endsAt?.N) < Number(v[':now']?.N),
};

/** The update expressions nlb-ftp's code sends (the ban agent's counter), as DynamoDB applies them. */
const UPDATES: Record<string, (item: DynamoItem, values: DynamoItem) => DynamoItem> = {
  'ADD failures :n SET expiresAt = :exp': (item, v) => ({
    ...item,
    failures: { N: String(Number(item.failures?.N ?? 0) + Number(v[':n']?.N)) },
    expiresAt: v[':exp'],
  }),
};

/** The key conditions of nlb-ftp's queries: the partition alone, or with a lower bound on the sort key. */
const KEY_CONDITIONS: Record<string, (item: DynamoItem, values: DynamoItem) => boolean> = {
  'pk = :pk': (i, v) => i.pk?.S === v[':pk']?.S,
  'pk = :pk AND sk >= :since': (i, v) => i.pk?.S === v[':pk']?.S && String(i.sk?.S) >= String(v[':since']?.S),
};

export class AwsModel {
  readonly instances = new Map<string, Ec2Instance>();
  /** Target group ARN -> instance ID -> the state it was given (see `targetHealth`). */
  readonly targetGroups = new Map<string, Map<string, string>>();
  /** A target group's port, which its targets are registered on (DescribeTargetHealth's Target.Port); 21 unless set. */
  readonly targetGroupPorts = new Map<string, number>();
  readonly groups = new Map<string, AutoScalingGroup>();
  /** Secret ARN -> its SecretString. */
  readonly secrets = new Map<string, string>();
  /** `bucket/key` -> the object's bytes. */
  readonly objects = new Map<string, Buffer>();
  /** Buckets anyone may read without signing (AWS's public agent buckets). */
  readonly publicBuckets = new Set<string>();
  /** Table name -> its key attributes and items (by their key). */
  readonly tables = new Map<string, { readonly key: readonly string[]; readonly items: Map<string, DynamoItem> }>();
  /** Stack name -> its outputs. */
  readonly stacks = new Map<string, Record<string, string>>();

  /** The NLB's view of a target (what DescribeTargetHealth says); by default the state it was given. */
  targetHealth: (targetGroupArn: string, instanceId: string, given: string) => string = (_a, _i, given) => given;
  /** After every change of a target group's members. */
  onTargetsChanged: (targetGroupArn: string) => void = () => undefined;
  /** After every completed lifecycle action. */
  onLifecycle: (c: LifecycleCompletion) => void = () => undefined;
  /** Before every describe of groups or targets: where a simulated clock moves. */
  beforeRead: () => void = () => undefined;
  /** Before every change: throw an AwsError here to fail that call (fault injection). */
  beforeWrite: (action: string) => void = () => undefined;
  /** After every change, with a one-line account of it. */
  afterWrite: (event: string) => void = () => undefined;
  /** The ID of an instance a group launches; undefined when launches are driven from outside (the sandbox boots them). */
  newInstanceId: (group: AutoScalingGroup) => string | undefined = () => undefined;

  // ---- EC2 ----------------------------------------------------------------------------------

  describeInstances(ids: readonly string[]): Array<{ id: string } & Ec2Instance> {
    return ids.flatMap((id) => {
      const i = this.instances.get(id);
      return i ? [{ id, ...i }] : [];
    });
  }

  createTags(ids: readonly string[], tags: Record<string, string>): void {
    this.beforeWrite('ec2:CreateTags');
    for (const id of ids) Object.assign(this.instance(id).tags, tags);
    this.afterWrite(`tag ${ids.join(',')}`);
  }

  deleteTags(ids: readonly string[], keys: readonly string[]): void {
    this.beforeWrite('ec2:DeleteTags');
    for (const id of ids) for (const k of keys) delete this.instance(id).tags[k];
    this.afterWrite(`untag ${ids.join(',')}`);
  }

  private instance(id: string): Ec2Instance {
    const i = this.instances.get(id);
    if (!i) throw new AwsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return i;
  }

  // ---- ELBv2 --------------------------------------------------------------------------------

  private targetGroup(arn: string): Map<string, string> {
    const tg = this.targetGroups.get(arn);
    if (!tg) throw new AwsError('TargetGroupNotFound', 'One or more target groups not found');
    return tg;
  }

  describeTargetHealth(arn: string): Array<{ id: string; state: string; port: number }> {
    this.beforeRead();
    const port = this.targetGroupPorts.get(arn) ?? 21;
    return [...this.targetGroup(arn)].map(([id, given]) => ({ id, state: this.targetHealth(arn, id, given), port }));
  }

  registerTargets(arn: string, ids: readonly string[]): void {
    const tg = this.targetGroup(arn);
    this.beforeWrite('elasticloadbalancing:RegisterTargets');
    for (const id of ids) {
      if (!this.instances.has(id)) throw new AwsError('InvalidTarget', `The following targets are not valid instances: '${id}'`);
    }
    for (const id of ids) tg.set(id, 'initial');
    this.onTargetsChanged(arn);
    this.afterWrite(`register ${ids.join(',')} ${arn}`);
  }

  deregisterTargets(arn: string, ids: readonly string[]): void {
    const tg = this.targetGroup(arn);
    this.beforeWrite('elasticloadbalancing:DeregisterTargets');
    for (const id of ids) tg.delete(id);
    this.onTargetsChanged(arn);
    this.afterWrite(`deregister ${ids.join(',')} ${arn}`);
  }

  // ---- Auto Scaling -------------------------------------------------------------------------

  /** A group of one, as each slot's is (min = max = desired = 1), its instances given or none yet. */
  addGroup(g: {
    readonly name: string;
    readonly launchTemplateId: string;
    readonly version: string;
    readonly targetGroups: readonly string[];
    readonly launchHook?: string;
    readonly instances?: GroupInstance[];
  }): AutoScalingGroup {
    const group: AutoScalingGroup = { min: 1, max: 1, desired: 1, suspended: new Set(), ...g, instances: g.instances ?? [] };
    this.groups.set(g.name, group);
    return group;
  }

  group(name: string): AutoScalingGroup {
    const g = this.groups.get(name);
    if (!g) throw new AwsError('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return g;
  }

  describeAutoScalingGroups(names: readonly string[]): AutoScalingGroup[] {
    this.beforeRead();
    return names.flatMap((n) => (this.groups.has(n) ? [this.group(n)] : []));
  }

  updateAutoScalingGroup(name: string, size: { min?: number; max?: number; desired?: number }): void {
    const g = this.group(name);
    this.beforeWrite('autoscaling:UpdateAutoScalingGroup');
    if (size.min !== undefined) g.min = size.min;
    if (size.max !== undefined) g.max = size.max;
    if (size.desired !== undefined) g.desired = size.desired;
    this.afterWrite(`size ${g.name} min ${g.min} max ${g.max} desired ${g.desired}`);
    this.reconcile(g);
  }

  setInstanceProtection(name: string, ids: readonly string[], protect: boolean): void {
    const g = this.group(name);
    this.beforeWrite('autoscaling:SetInstanceProtection');
    for (const i of g.instances) if (ids.includes(i.id)) i.protectedFromScaleIn = protect;
    this.afterWrite(`protect ${ids.join(',')} ${protect}`);
  }

  suspendProcesses(name: string, processes: readonly string[]): void {
    const g = this.group(name);
    this.beforeWrite('autoscaling:SuspendProcesses');
    for (const p of processes) g.suspended.add(p);
    this.afterWrite(`suspend ${name}`);
  }

  resumeProcesses(name: string, processes: readonly string[]): void {
    const g = this.group(name);
    this.beforeWrite('autoscaling:ResumeProcesses');
    for (const p of processes) g.suspended.delete(p);
    this.afterWrite(`resume ${name}`);
  }

  terminateInstanceInAutoScalingGroup(id: string, decrementDesired: boolean): void {
    const g = [...this.groups.values()].find((x) => x.instances.some((i) => i.id === id));
    if (!g) throw new AwsError('ValidationError', `Instance Id not found - No managed instance found for instance ID: ${id}`);
    this.beforeWrite('autoscaling:TerminateInstanceInAutoScalingGroup');
    if (decrementDesired) g.desired--;
    this.terminate(id);
    this.reconcile(g);
  }

  /** A new instance of a group: pending in EC2, and waiting on the launch hook (or Pending without one). */
  launch(groupName: string, id: string, privateIp: string): void {
    const g = this.group(groupName);
    this.instances.set(id, { privateIp, state: 'pending', tags: {} });
    g.instances.push({ id, lifecycle: g.launchHook ? 'Pending:Wait' : 'Pending', version: g.version, protectedFromScaleIn: false });
  }

  /**
   * What a boot's CompleteLifecycleAction does: CONTINUE puts the instance in service (running, and
   * in the group's target groups unless AddToLoadBalancer is suspended); ABANDON terminates it.
   * Refused, as Auto Scaling refuses it, for a group, hook or instance that is not waiting on it.
   */
  completeLifecycleAction(c: LifecycleCompletion): void {
    const g = this.group(c.group);
    const i = g.instances.find((x) => x.id === c.instanceId);
    if (c.hook !== g.launchHook || !i || i.lifecycle !== 'Pending:Wait') {
      throw new AwsError('ValidationError', `No active Lifecycle Action found with instance ID ${c.instanceId}`);
    }
    if (c.result !== 'CONTINUE' && c.result !== 'ABANDON') {
      throw new AwsError('ValidationError', `Invalid lifecycle action result: ${c.result}`);
    }
    if (c.result === 'CONTINUE') this.putInService(g, i);
    else {
      i.lifecycle = 'Terminating';
      this.leaveTargetGroups(i.id);
      this.instance(i.id).state = 'shutting-down';
    }
    this.onLifecycle(c);
  }

  /** An instance into service: running, and into its group's target groups. */
  putInService(g: AutoScalingGroup, i: GroupInstance): void {
    i.lifecycle = 'InService';
    this.instance(i.id).state = 'running';
    if (!g.suspended.has('AddToLoadBalancer')) {
      for (const arn of g.targetGroups) {
        this.targetGroup(arn).set(i.id, 'initial');
        this.onTargetsChanged(arn);
      }
    }
  }

  /** Remove instances that finished terminating, and launch up to each group's desired size. */
  settle(): void {
    for (const g of this.groups.values()) {
      const done = g.instances.filter((i) => i.lifecycle === 'Terminating');
      if (done.length === 0) continue;
      g.instances = g.instances.filter((i) => i.lifecycle !== 'Terminating');
      for (const i of done) this.instance(i.id).state = 'terminated';
      this.reconcile(g);
    }
  }

  /** An instance is gone: out of its group and every target group, terminated in EC2. */
  terminate(id: string): void {
    for (const g of this.groups.values()) g.instances = g.instances.filter((i) => i.id !== id);
    this.leaveTargetGroups(id);
    const i = this.instances.get(id);
    if (i) i.state = 'terminated';
    this.afterWrite(`terminate ${id}`);
  }

  private leaveTargetGroups(id: string): void {
    for (const [arn, tg] of this.targetGroups) {
      if (tg.delete(id)) this.onTargetsChanged(arn);
    }
  }

  /** Launch up to desired (and max), or terminate unprotected instances, newest first, down to it. */
  private reconcile(g: AutoScalingGroup): void {
    const live = () => g.instances.filter((i) => !/^Terminat/.test(i.lifecycle));
    while (live().length < g.desired && live().length < g.max) {
      const id = this.newInstanceId(g);
      if (!id) break;
      this.instances.set(id, { privateIp: '', state: 'pending', tags: {} });
      g.instances.push({ id, lifecycle: 'Pending', version: g.version, protectedFromScaleIn: false });
    }
    while (live().length > g.desired) {
      const victim = [...live()].reverse().find((i) => !i.protectedFromScaleIn);
      if (!victim) break;
      this.terminate(victim.id);
    }
  }

  // ---- Secrets Manager, S3 ------------------------------------------------------------------

  getSecretValue(id: string): { arn: string; value: string } {
    const value = this.secrets.get(id);
    if (value === undefined) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return { arn: id, value };
  }

  /** A new version of an existing secret (the certificate custom resource's one write). */
  putSecretValue(id: string, value: string): { arn: string } {
    if (!this.secrets.has(id)) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    this.beforeWrite('secretsmanager:PutSecretValue');
    this.secrets.set(id, value);
    this.afterWrite(`put secret ${id}`);
    return { arn: id };
  }

  getObject(bucket: string, key: string): Buffer {
    const body = this.objects.get(`${bucket}/${key}`);
    if (!body) throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404);
    return body;
  }

  // ---- DynamoDB -----------------------------------------------------------------------------

  createTable(name: string, key: readonly string[] = ['pk']): void {
    if (!this.tables.has(name)) this.tables.set(name, { key, items: new Map() });
  }

  private table(name: string) {
    const t = this.tables.get(name);
    if (!t) throw new AwsError('ResourceNotFoundException', 'Requested resource not found');
    return t;
  }

  private keyOf(t: { readonly key: readonly string[] }, item: DynamoItem): string {
    const missing = t.key.filter((k) => item[k] === undefined);
    if (missing.length) throw new AwsError('ValidationException', `One of the required keys was not given a value: ${missing.join(', ')}`);
    return JSON.stringify(t.key.map((k) => item[k]));
  }

  getItem(table: string, key: DynamoItem): DynamoItem | undefined {
    const t = this.table(table);
    return t.items.get(this.keyOf(t, key));
  }

  /** DeleteItem, unconditional (tests clear the checker's state with it; `unban` lifts a ban). */
  deleteItem(table: string, key: DynamoItem): void {
    const t = this.table(table);
    this.beforeWrite('dynamodb:DeleteItem');
    t.items.delete(this.keyOf(t, key));
  }

  /** UpdateItem with one of the update expressions nlb-ftp sends; any other is refused as DynamoDB refuses what it cannot parse. */
  updateItem(table: string, key: DynamoItem, expression: string, values: DynamoItem = {}): void {
    const t = this.table(table);
    const apply = UPDATES[expression];
    if (!apply) throw new AwsError('ValidationException', `Invalid UpdateExpression: the model does not know ${expression}`);
    const k = this.keyOf(t, key);
    this.beforeWrite('dynamodb:UpdateItem');
    t.items.set(k, apply({ ...(t.items.get(k) ?? {}), ...key }, values));
  }

  /** Query: the items of one partition (in sort-key order), with one of nlb-ftp's key conditions. */
  query(table: string, condition: string, values: DynamoItem = {}): DynamoItem[] {
    const t = this.table(table);
    const holds = KEY_CONDITIONS[condition];
    if (!holds) throw new AwsError('ValidationException', `Invalid KeyConditionExpression: the model does not know ${condition}`);
    // DynamoDB orders a partition by the sort key's bytes (UTF-8), not by locale.
    const key = (i: DynamoItem) => Buffer.from(String(i.sk?.S ?? ''));
    return [...t.items.values()].filter((i) => holds(i, values)).sort((a, b) => Buffer.compare(key(a), key(b)));
  }

  /** PutItem, with the checker's condition expressions evaluated as DynamoDB evaluates them. */
  putItem(table: string, item: DynamoItem, condition?: string, values: DynamoItem = {}): void {
    const t = this.table(table);
    const key = this.keyOf(t, item);
    if (condition !== undefined) {
      const holds = CONDITIONS[condition];
      if (!holds) throw new AwsError('ValidationException', `Invalid ConditionExpression: the model does not know ${condition}`);
      if (!holds(t.items.get(key), values)) throw new AwsError('ConditionalCheckFailedException', 'The conditional request failed');
    }
    this.beforeWrite('dynamodb:PutItem');
    t.items.set(key, item);
  }

  // ---- CloudFormation -----------------------------------------------------------------------

  describeStack(name: string): Record<string, string> {
    const outputs = this.stacks.get(name);
    if (!outputs) throw new AwsError('ValidationError', `Stack with id ${name} does not exist`);
    return outputs;
  }
}
