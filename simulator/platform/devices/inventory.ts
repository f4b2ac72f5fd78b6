/**
 * The device inventory: what ThingSpace knows about each device of each account, with the fixture it
 * starts from. The device-list endpoint that reads it is in `device-list.ts`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ID_FORMATS, idKey, msisdnOf, sameId } from './identifiers.js';

/** Line states as the device list spells them (thingspace-api-notes.md, Reconciliation endpoints). */
export const DEVICE_STATES = ['active', 'deactive', 'pre-active', 'suspend'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** States in which a device holds a line of service (eid-device-swap.txt: "an active line of service"). */
export function hasLine(state: DeviceState): boolean {
  return state === 'active' || state === 'suspend';
}

/** "This indicates if the profile is LEAD, LOCAL or DEFAULT" (change-profile-service-plan.txt). */
export const PROFILE_ROLES = ['LEAD', 'LOCAL', 'DEFAULT'] as const;
export type ProfileRole = (typeof PROFILE_ROLES)[number];

/** The carrier of Verizon US profiles, as the device list names it. */
export const VERIZON = 'Verizon Wireless';

/**
 * A Global (local carrier) eSIM profile next to the Verizon US one (change-profile-service-plan.txt: "either
 * Verizon US or global eSIM profiles"). Neither the device-list page nor Verizon's SDK names a field for
 * its plan; the SDK's `carrierInformations` is a list of `{carrierName, servicePlan, state}`, so the
 * simulator lists the Global profile as a second entry named after its carrier (docs/reconciliation.md).
 */
export const globalProfileSchema = z
  .object({
    /** The local carrier, e.g. `Vodafone DE`; never `Verizon Wireless`. */
    carrierName: z
      .string()
      .min(1)
      .refine((name) => name.toLowerCase() !== VERIZON.toLowerCase(), 'a Global profile has a local carrier'),
    servicePlan: z.string().min(1),
    state: z.enum(DEVICE_STATES),
  })
  .strict();
export type GlobalProfile = z.infer<typeof globalProfileSchema>;

export const deviceInputSchema = z
  .object({
    accountName: z.string().min(1),
    eid: z
      .string()
      .regex(ID_FORMATS.eid as RegExp, 'eid must be 32 digits')
      .optional(),
    iccid: z.string().regex(ID_FORMATS.iccid as RegExp, 'iccid must be 19 or 20 digits'),
    imei: z.string().regex(ID_FORMATS.imei as RegExp, 'imei must be 15 or 16 digits'),
    /** A 3G (CDMA) device's MEID; a device with one is a 3G device. */
    meid: z
      .string()
      .regex(ID_FORMATS.meid as RegExp, 'meid must be 14 to 18 hex digits')
      .optional(),
    mdn: z
      .string()
      .regex(ID_FORMATS.mdn as RegExp, 'mdn must be 10 digits')
      .optional(),
    state: z.enum(DEVICE_STATES),
    servicePlan: z.string().min(1),
    smsrOid: z.string().min(1).optional(),
    serviceName: z.string().min(1).optional(),
    stateName: z.string().min(1).optional(),
    createdAt: z.string().datetime({ offset: true }).optional(),
    lastActivationDate: z.string().datetime({ offset: true }).optional(),
    ipAddress: z.string().min(1).optional(),
    connected: z.boolean().optional(),
    /** The eSIM profile's state as DeviceProfileService reports it (`ENABLE` once activated or changed). */
    profileStatus: z.string().min(1).optional(),
    profileRole: z.enum(PROFILE_ROLES).optional(),
    /** Carrier of the line; the device list shows Verizon Wireless when unset. */
    carrierName: z.string().min(1).optional(),
    /** The device's Global eSIM profile, if it has one. */
    globalProfile: globalProfileSchema.optional(),
  })
  .strict();
export type DeviceInput = z.input<typeof deviceInputSchema>;

export const fixtureSchema = z
  .object({
    /** Accounts that exist even without devices. Accounts of the devices always exist. */
    accounts: z.array(z.string().min(1)).default([]),
    devices: z.array(deviceInputSchema),
  })
  .strict();
export type SimulatorFixture = z.input<typeof fixtureSchema>;

/** The fixture shipped with the simulator: one account with active devices and swap-in candidates. */
export function bundledFixturePath(): string {
  return fileURLToPath(new URL('../../fixtures/devices.json', import.meta.url));
}

export function loadFixture(path: string = bundledFixturePath()): SimulatorFixture {
  return fixtureSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** A line of service a device no longer carries; kept so reconciliation can still look its ICCID up. */
export interface RetiredLine {
  iccid: string;
  mdn?: string;
  state: DeviceState;
  servicePlan: string;
  retiredAt: string;
}

export interface SimDevice {
  /** ThingSpace's internal device number: the device list pages by it (`largestDeviceIdSeen`). */
  deviceNumber: number;
  accountName: string;
  eid?: string;
  iccid: string;
  imei: string;
  /** Only 3G devices have one (change-device-identifier.txt: 3Gto4G, 4Gto3G). */
  meid?: string;
  mdn?: string;
  state: DeviceState;
  servicePlan: string;
  smsrOid?: string;
  serviceName?: string;
  stateName?: string;
  createdAt: string;
  lastActivationDate?: string;
  ipAddress?: string;
  connected: boolean;
  profileStatus?: string;
  profileRole?: ProfileRole;
  carrierName?: string;
  globalProfile?: GlobalProfile;
  retiredLines: RetiredLine[];
}

export class InventoryConflictError extends Error {
  override name = 'InventoryConflictError';
}

const UNIQUE_KINDS = ['eid', 'iccid', 'imei', 'meid', 'mdn'] as const;

function currentId(device: SimDevice, kind: string): string | undefined {
  switch (kind) {
    case 'eid':
      return device.eid;
    case 'iccid':
      return device.iccid;
    case 'imei':
      return device.imei;
    case 'meid':
      return device.meid;
    case 'mdn':
      return device.mdn;
    case 'msisdn':
      // An MSISDN is the MDN with the country code (1 for the US).
      return device.mdn === undefined ? undefined : msisdnOf(device.mdn);
    default:
      return undefined;
  }
}

/** The identifiers a device was indexed under, to notice identifiers changed in place since then. */
interface Indexed {
  ids: (string | undefined)[];
  retiredLines: number;
}

/** Read access for a batch of synchronous lookups; see `Inventory.lookup`. */
export interface InventoryLookup {
  find(kind: string, id: string): SimDevice | undefined;
  isKnown(kind: string, id: string): boolean;
}

/**
 * The devices of every account, added and replaced only through its methods. Lookups by identifier are
 * map lookups, so they stay fast with tens of thousands of devices. Operations change a device's fields
 * in place (a swap moves its MDN, an activation gives it one), so the index checks itself: a hit is
 * confirmed against the device, and before a miss is trusted every device's identifiers are compared
 * with the ones it was indexed under and the changed ones re-indexed.
 */
export class Inventory {
  readonly accounts = new Set<string>();
  /** By device number, in ascending order: numbers only grow, and a replacement keeps its place. */
  private devices = new Map<number, SimDevice>();
  /** The device numbers in ascending order, so a page after a cursor is found by bisection. */
  private numbers: number[] = [];
  /** `kind:id` (lower case) → the device carrying it, for UNIQUE_KINDS. */
  private index = new Map<string, SimDevice>();
  private indexed = new WeakMap<SimDevice, Indexed>();
  /** `kind:id` → the retired line with that ICCID or MDN; rebuilt when retired lines change. */
  private retired = new Map<string, { device: SimDevice; line: RetiredLine }>();
  private retiredStale = false;
  private nextNumber = 1;

  constructor(
    fixture: SimulatorFixture,
    private readonly now: () => number,
  ) {
    this.reset(fixture);
  }

  /** Back to exactly the fixture; device numbers start again at 1. */
  reset(fixture: SimulatorFixture): void {
    const parsed = fixtureSchema.parse(fixture);
    this.accounts.clear();
    this.devices = new Map();
    this.numbers = [];
    this.index = new Map();
    this.retired = new Map();
    this.retiredStale = false;
    this.nextNumber = 1;
    parsed.accounts.forEach((a) => this.accounts.add(a));
    this.upsert(parsed.devices);
  }

  all(): SimDevice[] {
    return [...this.devices.values()];
  }

  byNumber(deviceNumber: number): SimDevice | undefined {
    return this.devices.get(deviceNumber);
  }

  /**
   * The devices with a device number above `cursor`, in ascending order: where a page of the device list
   * starts, found without reading the devices before it (ThingSpace pages a million-line account too).
   */
  *after(cursor: number): Generator<SimDevice> {
    let low = 0;
    let high = this.numbers.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.numbers[mid] as number) <= cursor) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < this.numbers.length; i++) {
      const device = this.devices.get(this.numbers[i] as number);
      if (device) yield device;
    }
  }

  /** The device currently carrying this identifier (kind compared case-insensitively). */
  find(kind: string, id: string): SimDevice | undefined {
    const hit = this.current(kind, id);
    if (hit) return hit;
    this.sync();
    return this.current(kind, id);
  }

  /** A deactivated or replaced line by its ICCID or MDN, when no device carries that identifier now. */
  findRetired(kind: string, id: string): { device: SimDevice; line: RetiredLine } | undefined {
    this.sync();
    return this.retiredLine(kind, id);
  }

  /** True when some device, now or in a retired line, used this identifier. */
  isKnown(kind: string, id: string): boolean {
    return this.lookup().isKnown(kind, id);
  }

  /**
   * Lookups for a batch of synchronous reads (a bulk request's 10,000 devices): a hit is confirmed against
   * the device, and the index is brought up to date at the first miss only, so a batch of known devices
   * never walks the whole inventory (a million devices) and later misses cost nothing. Valid until a
   * device is changed or the caller yields.
   */
  lookup(): InventoryLookup {
    let synced = false;
    const find = (kind: string, id: string): SimDevice | undefined => {
      const hit = this.current(kind, id);
      if (hit || synced) return hit;
      this.sync();
      synced = true;
      return this.current(kind, id);
    };
    return {
      find,
      // A miss has synced the index, so the retired lines are up to date too.
      isKnown: (kind, id) => find(kind, id) !== undefined || this.retiredLine(kind, id) !== undefined,
    };
  }

  /**
   * Adds devices, or replaces the device that shares an EID, IMEI or ICCID with one. All or nothing:
   * throws InventoryConflictError when a result would give two devices the same identifier.
   */
  upsert(inputs: DeviceInput[]): SimDevice[] {
    this.sync();
    const devices = new Map(this.devices);
    const index = new Map(this.index);
    let nextNumber = this.nextNumber;
    let replacedRetired = false;
    const added: number[] = [];
    const accounts: string[] = [];
    const result: SimDevice[] = [];
    for (const raw of inputs) {
      const input = deviceInputSchema.parse(raw);
      const previous =
        index.get(idKey('imei', input.imei)) ??
        (input.eid === undefined ? undefined : index.get(idKey('eid', input.eid))) ??
        index.get(idKey('iccid', input.iccid));
      const device: SimDevice = {
        ...input,
        deviceNumber: previous?.deviceNumber ?? nextNumber,
        createdAt: input.createdAt ?? new Date(this.now()).toISOString(),
        connected: input.connected ?? input.state === 'active',
        retiredLines: [],
      };
      for (const kind of UNIQUE_KINDS) {
        const id = currentId(device, kind);
        const clash = id === undefined ? undefined : index.get(idKey(kind, id));
        if (clash && clash !== previous) {
          throw new InventoryConflictError(`${kind} ${id} already belongs to device number ${clash.deviceNumber}`);
        }
      }
      if (device.deviceNumber === nextNumber) added.push(nextNumber++);
      if (previous) {
        this.unindex(index, previous);
        replacedRetired ||= previous.retiredLines.length > 0;
      }
      this.addToIndex(index, device);
      devices.set(device.deviceNumber, device);
      accounts.push(device.accountName);
      result.push(device);
    }
    this.devices = devices;
    for (const n of added) this.numbers.push(n);
    this.index = index;
    this.nextNumber = nextNumber;
    this.retiredStale ||= replacedRetired;
    accounts.forEach((a) => this.accounts.add(a));
    return result;
  }

  /** The indexed device carrying the identifier, confirmed against its fields. */
  private current(kind: string, id: string): SimDevice | undefined {
    const k = kind.toLowerCase();
    // An MSISDN is found through its MDN (the MSISDN is the MDN with the US country code 1).
    const key = k === 'msisdn' ? (id.startsWith('1') ? idKey('mdn', id.slice(1)) : undefined) : idKey(k, id);
    const device = key === undefined ? undefined : this.index.get(key);
    return device && sameId(currentId(device, k), id) ? device : undefined;
  }

  private retiredLine(kind: string, id: string): { device: SimDevice; line: RetiredLine } | undefined {
    const k = kind.toLowerCase();
    if (k !== 'iccid' && k !== 'mdn') return undefined;
    return this.retired.get(idKey(k, id));
  }

  private addToIndex(index: Map<string, SimDevice>, device: SimDevice): void {
    const ids = UNIQUE_KINDS.map((kind) => currentId(device, kind));
    ids.forEach((id, i) => {
      if (id !== undefined) index.set(idKey(UNIQUE_KINDS[i] as string, id), device);
    });
    this.indexed.set(device, { ids, retiredLines: device.retiredLines.length });
  }

  /** Removes the keys `device` was indexed under, unless another device has taken them over since. */
  private unindex(index: Map<string, SimDevice>, device: SimDevice): void {
    this.indexed.get(device)?.ids.forEach((id, i) => {
      if (id === undefined) return;
      const key = idKey(UNIQUE_KINDS[i] as string, id);
      if (index.get(key) === device) index.delete(key);
    });
  }

  /** Re-indexes every device whose identifiers or retired lines changed in place since it was indexed. */
  private sync(): void {
    for (const device of this.devices.values()) {
      const seen = this.indexed.get(device);
      const unchanged = seen !== undefined && UNIQUE_KINDS.every((kind, i) => seen.ids[i] === currentId(device, kind));
      if (seen !== undefined && seen.retiredLines !== device.retiredLines.length) this.retiredStale = true;
      if (unchanged) continue;
      this.unindex(this.index, device);
      this.addToIndex(this.index, device);
    }
    if (this.retiredStale) this.rebuildRetired();
  }

  /** The newest retired line with an identifier wins within a device, the lowest device number across devices. */
  private rebuildRetired(): void {
    this.retired = new Map();
    for (const device of this.devices.values()) {
      const indexed = this.indexed.get(device);
      if (indexed) indexed.retiredLines = device.retiredLines.length;
      for (let i = device.retiredLines.length - 1; i >= 0; i--) {
        const line = device.retiredLines[i] as RetiredLine;
        for (const key of [idKey('iccid', line.iccid), ...(line.mdn ? [idKey('mdn', line.mdn)] : [])]) {
          if (!this.retired.has(key)) this.retired.set(key, { device, line });
        }
      }
    }
    this.retiredStale = false;
  }
}
