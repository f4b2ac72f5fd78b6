/**
 * Reading the device list's records (`POST /m2m/v1/devices/actions/list`, thingspace-api-notes.md).
 */
import type { CarrierInformation, DeviceInformation } from './models.js';

/** How the device list names the carrier of Verizon US lines (Verizon's SDK, CarrierInformation example). */
export const VERIZON_CARRIER = 'Verizon Wireless';

/**
 * ThingSpace's internal device number: the `extendedAttributes` entry with key `DeviceId`. The last
 * record's is the `largestDeviceIdSeen` of the next page. Undefined when the record has none, or not a
 * whole number.
 */
export function deviceNumberOf(device: DeviceInformation | undefined): number | undefined {
  const entry = device?.extendedAttributes?.find((a) => a.key === 'DeviceId');
  if (entry === undefined || !/^\d+$/.test(entry.value.trim())) return undefined;
  const value = Number(entry.value);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** The Verizon US line: the entry of carrier Verizon Wireless, or an entry that names no carrier. */
export function verizonLineOf(device: DeviceInformation): CarrierInformation | undefined {
  return (
    device.carrierInformations.find((c) => c.carrierName?.toLowerCase() === VERIZON_CARRIER.toLowerCase()) ??
    device.carrierInformations.find((c) => c.carrierName === undefined || c.carrierName === '') ??
    device.carrierInformations[0]
  );
}

/** Entries of other carriers: the Global (local carrier) eSIM profiles, as docs/reconciliation.md assumes. */
export function globalProfilesOf(device: DeviceInformation): CarrierInformation[] {
  const us = verizonLineOf(device);
  return device.carrierInformations.filter((c) => c !== us);
}
