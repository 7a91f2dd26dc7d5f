/**
 * Passive port plan: which ports each backend slot owns. Pure; no aws-cdk-lib import.
 *
 * Slot i owns [start + i*r, start + i*r + r - 1]. A slot's range depends only on its own index,
 * start and r, never on backendCount, so adding backends never moves an existing slot's ports
 * (and never changes the CloudFormation logical IDs derived from them).
 */

import { CONTROL_PORT } from './contract';
import { NLB_MAX_LISTENERS } from './limits';

export { CONTROL_PORT };

export interface PortPlanInput {
  readonly backendCount: number;
  readonly passivePortsPerBackend: number;
  readonly passivePortStart: number;
  /** One more listener, for SFTP. @default false */
  readonly sftpListener?: boolean;
}

export interface SlotPorts {
  /** 0-based slot index; fixed for the life of the backend. */
  readonly slot: number;
  readonly minPort: number;
  readonly maxPort: number;
  /** Every port of the range, ascending; one NLB listener and target group each. */
  readonly ports: readonly number[];
}

export interface PortPlan {
  readonly slots: readonly SlotPorts[];
  /** Listeners this plan needs on the NLB: port 21, SFTP's, and one per passive port. */
  readonly listenerCount: number;
  /** The whole passive span across all slots, for security group rules on the NLB. */
  readonly minPort: number;
  readonly maxPort: number;
}

/** NLB listeners for N backends of r passive ports: port 21, SFTP's when on, and one per passive port. */
export function listenerCount(backendCount: number, passivePortsPerBackend: number, sftp: boolean): number {
  return 1 + (sftp ? 1 : 0) + backendCount * passivePortsPerBackend;
}

export function slotPorts(slot: number, input: Omit<PortPlanInput, 'backendCount'>): SlotPorts {
  const r = input.passivePortsPerBackend;
  const minPort = input.passivePortStart + slot * r;
  const ports = Array.from({ length: r }, (_, k) => minPort + k);
  return { slot, minPort, maxPort: minPort + r - 1, ports };
}

/** The plan for a validated config. Throws if the config would break the NLB's listener limit. */
export function planPorts(input: PortPlanInput): PortPlan {
  const slots = Array.from({ length: input.backendCount }, (_, i) => slotPorts(i, input));
  const listeners = listenerCount(input.backendCount, input.passivePortsPerBackend, input.sftpListener ?? false);
  if (listeners > NLB_MAX_LISTENERS) {
    // Config validation reports this with advice; reaching here means it was bypassed.
    throw new Error(`port plan needs ${listeners} listeners; an NLB has ${NLB_MAX_LISTENERS}`);
  }
  return { slots, listenerCount: listeners, minPort: slots[0].minPort, maxPort: slots[slots.length - 1].maxPort };
}

/** Backends are spread round-robin over the AZs; slot i lives in AZ i mod azCount. */
export function azIndexForSlot(slot: number, azCount: number): number {
  return slot % azCount;
}
