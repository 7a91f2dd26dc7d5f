/**
 * Writes iam/operator-policy.json (`npm run operator-policy`): the least-privilege IAM policy for
 * `npm run status`, `roll` and `preflight` on the default stack name, from lib/cli/operator-policy.ts.
 * `npm run operator-policy -- --stack NAME` prints the policy for another stack name instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OPERATOR_PERMISSIONS, operatorPolicy, POLICY_FILE_STACK } from '../lib/cli/operator-policy';

export const POLICY_FILE = path.resolve(__dirname, '../iam/operator-policy.json');

/** The file's text: the policy, and nothing else (IAM refuses unknown keys). */
export function policyFileText(stack = POLICY_FILE_STACK): string {
  return `${JSON.stringify(operatorPolicy(stack), null, 2)}\n`;
}

if (require.main === module) {
  const i = process.argv.indexOf('--stack');
  const stack = i > 0 ? process.argv[i + 1] : undefined;
  if (i > 0 && !/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(stack ?? '')) {
    console.error(`--stack ${stack ?? ''}: a stack name starts with a letter and holds only letters, digits and hyphens (max 64)`);
    process.exit(2);
  }
  if (stack) {
    process.stdout.write(policyFileText(stack));
  } else {
    fs.mkdirSync(path.dirname(POLICY_FILE), { recursive: true });
    fs.writeFileSync(POLICY_FILE, policyFileText());
    console.log(`${path.relative(process.cwd(), POLICY_FILE)}: ${OPERATOR_PERMISSIONS.length} statements for stack ${POLICY_FILE_STACK}`);
  }
}
