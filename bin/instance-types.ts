/**
 * Rewrites lib/config/ec2-instance-types.ts from EC2's own API model: the InstanceType enum of the
 * installed @aws-sdk/client-ec2 (`npm run instance-types`). The config checks an instance type
 * against that exact list; test/unit/config-advice.test.ts fails when the SDK's list and the
 * file part ways (run this after updating the SDK).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ec2 from '@aws-sdk/client-ec2';

export const TYPES_FILE = path.resolve(__dirname, '../lib/config/ec2-instance-types.ts');

/** Every instance type EC2's API model names, sorted and unique. */
export function sdkInstanceTypes(): string[] {
  return [...new Set(Object.values(ec2._InstanceType as Record<string, string>))].sort();
}

export function sdkVersion(): string {
  return (JSON.parse(fs.readFileSync(require.resolve('@aws-sdk/client-ec2/package.json'), 'utf8')) as { version: string }).version;
}

export function renderTypesFile(types: readonly string[], version: string, date: string): string {
  return `/**
 * Every EC2 instance type, exactly as EC2's API model lists them: the InstanceType enum of
 * @aws-sdk/client-ec2 ${version}, written on ${date} by \`npm run instance-types\` (bin/instance-types.ts).
 * Plain data, so config validation needs no SDK. test/unit/config-advice.test.ts holds it sorted,
 * unique and equal to the installed SDK's list.
 */
export const EC2_INSTANCE_TYPES: readonly string[] = [
${types.map((t) => `  '${t}',`).join('\n')}
];
`;
}

if (require.main === module) {
  const types = sdkInstanceTypes();
  fs.writeFileSync(TYPES_FILE, renderTypesFile(types, sdkVersion(), new Date().toISOString().slice(0, 10)));
  console.log(`${path.relative(process.cwd(), TYPES_FILE)}: ${types.length} instance types from @aws-sdk/client-ec2 ${sdkVersion()}`);
}
