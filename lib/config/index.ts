/**
 * nlb-ftp's configuration: the schema (schema.ts), cross-setting rules (rules.ts), loading and
 * merging of sources (load.ts), error messages (problems.ts) and the settings table of docs/configuration.md
 * (settings-table.ts). Pure: no aws-cdk-lib import.
 */
export { MAX_PASSIVE_PORTS, MAX_PORT, MIN_UNPRIVILEGED_PORT, NLB_MAX_LISTENERS } from '../shared/limits';
export { CONFIG_FILE_CONTEXT_KEY, coerceContextValue, DEFAULT_CONFIG_FILE, type LoadOptions, loadConfig, parseConfig } from './load';
export { ConfigError, type ConfigProblem, formatProblems } from './problems';
export { type Config, type ConfigInput, ConfigSchema, minHealthyBackendsOf, sftpEnabled } from './schema';
export { arnLocation, partitionOfRegion, SECRET_ARN_FIELDS, secretArnProblems } from './secret-arns';
export { type SettingDoc, settingsDoc, settingsTable } from './settings-table';
