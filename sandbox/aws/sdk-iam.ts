/**
 * IAM on SDK clients: each command a client sends is first authorized by the IamEnforcer (./iam.ts)
 * as the principal the client stands for, and a denial is thrown as the SDK throws AWS's. For code
 * that is tested through injected SDK clients (the operator commands) rather than the HTTP endpoint;
 * it works with whatever answers behind the client (the model's mocks, a test's own stubs).
 */
import { authorizationOf, type IamEnforcer, type IamLookup } from './iam';
import { AwsError } from './model';
import { sdkError } from './sdk-mock';

type SdkClient = { send: (command: never, ...rest: never[]) => Promise<unknown>; config: { serviceId?: string } };

/**
 * The same client, every command authorized first as `principal`. Each decision is recorded by
 * the enforcer; `onCall` hears every action tried.
 */
export function withIam<C extends SdkClient>(client: C, iam: IamEnforcer, principal: string, lookup: IamLookup = {}): C {
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const serviceId = client.config.serviceId ?? '';
  const guarded = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    for (const { action, resource, context } of authorizationOf(
      serviceId,
      command.constructor.name,
      command.input ?? {},
      iam.where,
      lookup,
    )) {
      try {
        await iam.authorize(principal, action, resource, context);
      } catch (err) {
        throw err instanceof AwsError ? sdkError(err) : err;
      }
    }
    return send(command);
  };
  Object.assign(client, { send: guarded });
  return client;
}
