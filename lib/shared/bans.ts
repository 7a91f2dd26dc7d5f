/**
 * Cluster-wide bans: the items of the bans table, which every backend's ban agent
 * (lib/backend/scripts/nlb-ftp-bans.py) writes and reads, and `npm run status` and `npm run unban`
 * read and lift. Pure; the agent spells the same keys (a test holds them equal).
 *
 * - A failure counter per address and minute: pk `fail#ADDRESS`, sk the minute's start (epoch
 *   seconds, 10 digits, so the sort key orders by time), `failures` added by every backend that
 *   saw a failed login from it, `expiresAt` (the table's TTL) after the window.
 * - A ban: pk `ban`, sk the address, `endsAt` (epoch seconds), `failures` that caused it, `slot` of
 *   the backend that decided it, `expiresAt` = `endsAt`. One partition, so one Query lists them all.
 */

/** The partition of every ban. */
export const BAN_PARTITION = 'ban';
/** The partition of one address's failure counters. */
export const failurePartition = (address: string) => `fail#${address}`;
/** The table's time-to-live attribute: DynamoDB deletes an item some time after it passes. */
export const BAN_TTL_ATTRIBUTE = 'expiresAt';

export interface Ban {
  readonly address: string;
  /** Epoch seconds. */
  readonly endsAt: number;
  readonly failures: number;
  readonly slot: number;
}

type Attr = { readonly S?: string; readonly N?: string };

/** A ban from its DynamoDB item, or undefined when the item is not one (or has passed). */
export function banOfItem(item: Readonly<Record<string, Attr>>, nowSeconds: number): Ban | undefined {
  if (item.pk?.S !== BAN_PARTITION || !item.sk?.S) return undefined;
  const endsAt = Number(item.endsAt?.N);
  if (!Number.isFinite(endsAt) || endsAt <= nowSeconds) return undefined;
  return { address: item.sk.S, endsAt, failures: Number(item.failures?.N ?? 0), slot: Number(item.slot?.N ?? -1) };
}

/** An IPv4 address in dotted form (what the audit trail's clientIp holds). */
export function isIpv4Address(s: string): boolean {
  return /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(s);
}
