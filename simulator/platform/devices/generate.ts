/**
 * `POST /__sim/devices/generate`: many devices with predictable, valid identifiers (EID, ICCID, IMEI and an
 * MDN for a line in service), for bulk profile requests.
 */
import { z } from 'zod';
import { luhnCheckDigit } from '../random.js';
import { DEVICE_STATES, hasLine, InventoryConflictError, PROFILE_ROLES, type Inventory } from './inventory.js';

export const MAX_GENERATED_DEVICES = 20_000;
/** Sequence numbers per prefix: the MDN has six digits for it. */
const MAX_SEQUENCE = 999_999;

export const generateDevicesSchema = z
  .object({
    accountName: z.string().min(1),
    count: z.number().int().min(1).max(MAX_GENERATED_DEVICES),
    state: z.enum(DEVICE_STATES),
    servicePlan: z.string().min(1),
    withEid: z.boolean().default(true),
    /** Up to 3 digits placed in every identifier, so batches generated under different prefixes never meet. */
    prefix: z
      .string()
      .regex(/^\d{1,3}$/, 'prefix must be 1 to 3 digits')
      .default('0'),
    profileRole: z.enum(PROFILE_ROLES).optional(),
  })
  .strict();
export type GenerateDevicesRequest = z.infer<typeof generateDevicesSchema>;

export interface GeneratedIds {
  eid?: string;
  iccid: string;
  imei: string;
  mdn?: string;
}

/** EID check digits (GSMA SGP.29, ISO 7064 MOD 97-10): the 32-digit EID modulo 97 is 1. */
export function eidCheckDigits(body30: string): string {
  return String(98n - ((BigInt(body30) * 100n) % 97n)).padStart(2, '0');
}

/**
 * The identifiers of generated device number `sequence` under a 3-digit `prefix`: an EID with its check
 * digits, a 20-digit ICCID and a 15-digit IMEI with Luhn check digits, and an MDN for a line in service.
 */
export function generatedIds(prefix: string, sequence: number, withEid: boolean, withMdn: boolean): GeneratedIds {
  const digits = (width: number): string => `${prefix}${String(sequence).padStart(width, '0')}`;
  const eid = `890490320077${digits(15)}`;
  const iccid = `8914807${digits(9)}`;
  const imei = `35${digits(9)}`;
  return {
    ...(withEid ? { eid: eid + eidCheckDigits(eid) } : {}),
    iccid: iccid + luhnCheckDigit(iccid),
    imei: imei + luhnCheckDigit(imei),
    ...(withMdn ? { mdn: `5${digits(6)}` } : {}),
  };
}

/**
 * Adds `count` devices with identifiers derived from the prefix and a per-prefix counter, so a test can
 * predict them; numbers whose identifiers a device already has are skipped. Devices with a line in
 * service (active, suspended) get an MDN.
 */
export function generateDevices(
  inventory: Inventory,
  sequences: Map<string, number>,
  spec: GenerateDevicesRequest,
): GeneratedIds[] {
  const prefix = spec.prefix.padStart(3, '0');
  const withMdn = hasLine(spec.state);
  const lookup = inventory.lookup();
  let sequence = sequences.get(prefix) ?? 0;
  const generated: GeneratedIds[] = [];
  while (generated.length < spec.count) {
    sequence++;
    if (sequence > MAX_SEQUENCE) {
      throw new InventoryConflictError(`Prefix ${prefix} has no identifiers left; use another prefix.`);
    }
    const ids = generatedIds(prefix, sequence, spec.withEid, withMdn);
    if (Object.entries(ids).some(([kind, id]) => lookup.isKnown(kind, id as string))) continue;
    generated.push(ids);
  }
  inventory.upsert(
    generated.map((ids) => ({
      accountName: spec.accountName,
      ...ids,
      state: spec.state,
      servicePlan: spec.servicePlan,
      ...(spec.profileRole ? { profileRole: spec.profileRole } : {}),
    })),
  );
  sequences.set(prefix, sequence);
  return generated;
}
