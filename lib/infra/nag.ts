/**
 * Acknowledge a cdk-nag finding next to the construct it concerns, with the specific reason.
 * Written as the `cdk_nag` metadata that cdk-nag reads, so the app does not depend on cdk-nag at
 * run time (the test suite runs the AwsSolutions pack; see test/unit/security-gates.test.ts).
 */
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface NagAcknowledgement {
  /** Rule ID, e.g. `AwsSolutions-EC23`. */
  readonly id: string;
  /** Why this finding is accepted here. Specific to this resource; never "not needed". */
  readonly reason: string;
  /** Only these findings of the rule, e.g. `Resource::*`. */
  readonly appliesTo?: readonly string[];
}

/** Attach the acknowledgements to the construct's CloudFormation resource(s). */
export function acknowledge(construct: IConstruct, acks: readonly NagAcknowledgement[], opts: { children?: boolean } = {}): void {
  const targets = opts.children ? construct.node.findAll() : [construct.node.defaultChild ?? construct];
  for (const t of targets) {
    if (!(t instanceof CfnResource)) continue;
    const existing = (t.getMetadata('cdk_nag') as { rules_to_suppress?: unknown[] } | undefined)?.rules_to_suppress ?? [];
    t.addMetadata('cdk_nag', {
      rules_to_suppress: [
        ...existing,
        ...acks.map((a) => ({ id: a.id, reason: a.reason, ...(a.appliesTo ? { applies_to: [...a.appliesTo] } : {}) })),
      ],
    });
  }
}
