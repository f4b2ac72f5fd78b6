/**
 * Which devices accepted operations acted on, and how often: a swap, identifier change or profile request
 * counts once per device whose inventory it changed. Tests assert "no device acted on twice" with it, since
 * no ThingSpace page promises that a repeated request is refused (thingspace-api-notes.md).
 */
import type { SimDevice } from './devices/inventory.js';

export interface ActedDevice {
  /** Accepted operations that acted on the device. */
  count: number;
  requestIds: string[];
}

/** `GET /__sim/acted`: per device key, and the keys of devices acted on more than once. */
export interface ActedReport {
  devices: Record<string, ActedDevice>;
  actedTwice: string[];
}

/**
 * A device's key: `eid:<eid>` when it has an EID, else `imei:<imei>`, lower case, taken the first time an
 * operation acts on it and kept, so a swap or identifier change that replaces identifiers keeps the key.
 */
export function actedKey(device: Pick<SimDevice, 'eid' | 'imei'>): string {
  return device.eid ? `eid:${device.eid.toLowerCase()}` : `imei:${device.imei.toLowerCase()}`;
}

export class ActedLedger {
  private byNumber = new Map<number, { key: string; requestIds: string[] }>();

  /** Counts `requestId` once for the device, however many of its steps change it. */
  record(device: SimDevice, requestId: string): void {
    const entry = this.byNumber.get(device.deviceNumber) ?? { key: actedKey(device), requestIds: [] };
    if (!entry.requestIds.includes(requestId)) entry.requestIds.push(requestId);
    this.byNumber.set(device.deviceNumber, entry);
  }

  report(): ActedReport {
    const devices: Record<string, ActedDevice> = {};
    for (const { key, requestIds } of this.byNumber.values()) {
      devices[key] = { count: requestIds.length, requestIds: [...requestIds] };
    }
    const actedTwice = Object.keys(devices).filter((key) => (devices[key]?.count ?? 0) > 1);
    return { devices, actedTwice };
  }

  clear(): void {
    this.byNumber.clear();
  }
}
