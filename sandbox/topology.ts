/**
 * The sandbox's names and addresses, all in one place: every namespace starts with
 * `nlbftp-sbx`, every address is in 198.18.0.0/15, so a crashed run can always be found.
 *
 *   host (clients) 198.18.0.1, NLB health checks .3, checker .4 --veth-- [nlbftp-sbx-nlb] 198.18.0.2 = the NLB's public IP
 *                                          | 198.18.(16+i).1
 *                                          +--veth-- [nlbftp-sbx-bI] 198.18.(16+i).2: backend slot I
 */
import { LOCAL_PREFIX } from './local-server';

export const SANDBOX_PREFIX = `${LOCAL_PREFIX}-sbx`;
export const NLB_NS = `${SANDBOX_PREFIX}-nlb`;
export const NLB_IP = '198.18.0.2';
export const CLIENT_IP = '198.18.0.1';
/**
 * The NLB's private address in the VPC, from which it health-checks its targets: a second address
 * on the host's side of the NLB link. On AWS health checks never come from a client's address, so
 * they must not here either: the backends' per-address session cap counts the host's clients
 * (CLIENT_IP), and a health check that a cold server has not yet answered would take one of them.
 */
export const NLB_HEALTH_IP = '198.18.0.3';
/**
 * The health checker's address in the VPC (its Lambda's network interface): the checker process
 * binds its sockets here (checker-runner.ts), so its probe sessions, like the NLB's health checks,
 * never count against a client's per-address session cap on the backends.
 */
export const CHECKER_IP = '198.18.0.4';
/** A separate client namespace behind the NLB, for tests that need their own client stack. */
export const CLIENT_NS = `${SANDBOX_PREFIX}-client`;
export const CLIENT_NS_IP = '198.18.1.2';
export const HOST_IF = `${SANDBOX_PREFIX}-h`;
export const STATE_FILE = '/run/nlbftp-sandbox.json';
/** The host account that sandboxes made before every backend was booted: cleanup removes one a crashed run of such a version left. */
export const DEMO_USER = `${LOCAL_PREFIX}-demo`;
/**
 * A booted backend's demo user: made by its boot from the users secret, inside the instance, so it
 * needs no host-unique prefix, and `nlbftp-` names are reserved for nlb-ftp's own accounts there.
 */
export const BOOTED_DEMO_USER = 'demo';

export const backendNs = (slot: number) => `${SANDBOX_PREFIX}-b${slot}`;
export const backendIp = (slot: number) => `198.18.${16 + slot}.2`;
export const backendGw = (slot: number) => `198.18.${16 + slot}.1`;
/** The sandbox's instance IDs: slot, then how many times the slot's group has replaced it. */
export const instanceIdOf = (slot: number, generation = 0) =>
  `i-0sandbox${String(slot).padStart(4, '0')}${String(generation).padStart(4, '0')}`;
/** The full name of a slot's (first) passive target group, as the checker's inventory carries it. */
