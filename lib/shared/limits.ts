/** Limits of AWS and TCP that decide the design; each with the fact behind it. Pure. */

// NLB: 50 listeners per load balancer, a hard limit that AWS will not raise.
export const NLB_MAX_LISTENERS = 50;
/** Port 21 takes one listener; the rest are passive ports. */
export const MAX_PASSIVE_PORTS = NLB_MAX_LISTENERS - 1;
export const MIN_UNPRIVILEGED_PORT = 1024;
export const MAX_PORT = 65535;
