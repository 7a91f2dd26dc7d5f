/** Limits of AWS and TCP that decide the design; each with the fact behind it. Pure. */

// NLB: 50 listeners per load balancer, a hard limit that AWS will not raise.
export const NLB_MAX_LISTENERS = 50;
/** Port 21 takes one listener; the rest are passive ports. */
export const MAX_PASSIVE_PORTS = NLB_MAX_LISTENERS - 1;
export const MIN_UNPRIVILEGED_PORT = 1024;
export const MAX_PORT = 65535;

/**
 * The retention periods CloudWatch Logs accepts, in days (AWS::Logs::LogGroup RetentionInDays,
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-loggroup.html).
 */
export const AUDIT_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
