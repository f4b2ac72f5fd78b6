/**
 * Seeded randomness. Everything the simulator invents (request ids, new ICCIDs and MDNs) and every
 * fault it rolls comes from here, so a run is reproducible from its seed.
 */

/** A source of numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: tiny, fast and good enough to pick faults; not for secrets. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Two independent streams, so enabling a fault (which rolls dice) does not change the ids a run produces.
 * Reseeded in place on reset, so holders keep their reference.
 */
export class SeededRandom {
  ids: Random = Math.random;
  faults: Random = Math.random;

  constructor(seed: number) {
    this.reseed(seed);
  }

  reseed(seed: number): void {
    this.ids = mulberry32(seed);
    this.faults = mulberry32(seed ^ 0x5bd1e995);
  }
}

export function randomInt(random: Random, maxExclusive: number): number {
  return Math.floor(random() * maxExclusive);
}

export function randomDigits(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String(randomInt(random, 10));
  return out;
}

/** A version-4-shaped UUID drawn from `random`: ThingSpace request ids are UUIDs (eid-device-swap.txt). */
export function seededUuid(random: Random): string {
  const hex = Array.from({ length: 32 }, () => randomInt(random, 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + randomInt(random, 4)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** Luhn check digit, used by ICCIDs (ITU-T E.118) and IMEIs. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** Fisher–Yates shuffle into a new array. */
export function shuffle<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

/** A North American number: ten digits, the area code starting with 2 to 9 (never 0 or 1). */
export function randomNanpMdn(random: Random): string {
  return `${2 + randomInt(random, 8)}${randomDigits(random, 9)}`;
}
