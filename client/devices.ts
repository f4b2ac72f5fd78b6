/**
 * The devices of a fleet-scale bulk operation: read from an array, a replayable iterable or a file (CSV or
 * JSON lines), checked row by row with the operation's rules, stored in the operation store in chunks, and
 * their outcomes read back page by page. Files are streamed line by line: a million rows are never held in
 * memory at once. Devices are read twice — once to check them all, once to store them — so that nothing is
 * stored when a row is invalid, and a file changed between the two reads is caught by its digest.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import {
  BULK_DEVICE_KINDS,
  validateBulkDevice,
  type BulkOperation,
  type DeviceId,
  type ValidationIssue,
} from '../contracts/index.js';
import type { DeviceResult, DeviceState, NewDevice, OperationStore } from '../store/operations.js';

/**
 * Where the devices come from. A file is read by its extension (`.csv`, `.jsonl`, `.ndjson`) unless `format`
 * says otherwise. An iterable is given as a function returning a fresh one, since the devices are read twice.
 */
export type DeviceSource =
  readonly unknown[] | { file: string; format?: 'csv' | 'jsonl' } | (() => Iterable<unknown> | AsyncIterable<unknown>);

/** Why a row was refused, or stored as `skipped` with `skipInvalid`. */
export type DeviceProblemCode = 'InvalidDevice' | 'RepeatedDevice';

export interface DeviceProblem {
  /** The file's line (the CSV header is line 1), or the device's 1-based place in an array or iterable. */
  line: number;
  code: DeviceProblemCode;
  message: string;
}

/** What the first read of the devices found: everything the upload needs to know in advance. */
export interface CheckedDevices {
  operation: BulkOperation;
  source: DeviceSource;
  skipInvalid: boolean;
  /** `line` for a file, `device` for an array or iterable: how problems name a row. */
  unit: 'line' | 'device';
  /** Rows to store, `skipped` ones included: the saga's `deviceSet.count`. */
  total: number;
  skipped: number;
  /** sha256 over the canonical rows in order (see `rowDigestText`); the store keeps it at the seal. */
  devicesDigest: string;
  /** The same digest over each chunk of `chunkSize` rows: the upload checks every chunk before storing it. */
  chunkDigests: string[];
  chunkSize: number;
  /** The first problems, in order (at most `maxProblems`); `problemCount` counts them all. */
  problems: DeviceProblem[];
  problemCount: number;
}

export interface DeviceProgress {
  /** `checking`: the first read (no total yet); `uploading`: devices stored so far out of `total`. */
  phase: 'checking' | 'uploading';
  done: number;
  total?: number;
}

export interface CheckOptions {
  /** Store invalid and repeated rows as `skipped` with their reason instead of refusing the whole set. */
  skipInvalid?: boolean;
  /** Problems kept for the report; default 1,000 (every problem is counted). */
  maxProblems?: number;
  /** Rows per `appendDevices` call of the upload; default 5,000. */
  chunkSize?: number;
  onProgress?: (progress: DeviceProgress) => void;
}

/** A device file that cannot be read at all: missing, of an unknown format, or with a bad CSV header. */
export class DeviceSourceError extends Error {
  override name = 'DeviceSourceError';
}

/** The operation id is taken by another request or another set of devices; nothing was stored or started. */
export class OperationConflictError extends Error {
  override name = 'OperationConflictError';
}

/** Thrown before anything is stored when rows are invalid or repeated and `skipInvalid` is not set. */
export class InvalidDevicesError extends Error {
  override name = 'InvalidDevicesError';
  /** The problems as validation issues, `field` naming the row (`line 7`). */
  readonly issues: ValidationIssue[];
  constructor(readonly checked: CheckedDevices) {
    const shown = checked.problems.slice(0, 3).map((p) => describeProblem(p, checked.unit));
    const more = checked.problemCount - shown.length;
    super(
      `${checked.problemCount} of the devices are invalid or repeated, nothing started: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    );
    this.issues = checked.problems.map((p) => ({ field: `${checked.unit} ${p.line}`, message: p.message }));
  }
}

/** `line 7: repeats eid 8904… of line 3`. */
export function describeProblem(problem: DeviceProblem, unit: 'line' | 'device' = 'line'): string {
  return `${unit} ${problem.line}: ${problem.message}`;
}

// ---------- reading rows ----------

/** One row as read, before the operation's rules: a device-like value, or why it could not be read. */
interface SourceRow {
  line: number;
  value?: unknown;
  unreadable?: string;
}

const FILE_FORMATS: Record<string, 'csv' | 'jsonl'> = { '.csv': 'csv', '.jsonl': 'jsonl', '.ndjson': 'jsonl' };

function isFileSource(source: DeviceSource): source is { file: string; format?: 'csv' | 'jsonl' } {
  return typeof source === 'object' && source !== null && !Array.isArray(source) && 'file' in source;
}

async function* lines(path: string): AsyncGenerator<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new DeviceSourceError(
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const input = handle.createReadStream({ encoding: 'utf8' });
  // crlfDelay: a CR LF pair is one line break, so files written on Windows read the same.
  const reader = createInterface({ input, crlfDelay: Infinity });
  try {
    let first = true;
    for await (const line of reader) {
      // Spreadsheets often start a UTF-8 file with a byte-order mark.
      yield first ? line.replace(/^\uFEFF/, '') : line;
      first = false;
    }
  } finally {
    reader.close();
    input.destroy();
    await handle.close().catch(() => undefined);
  }
}

/**
 * The cells of one CSV line (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`), trimmed. A quoted cell cannot span
 * lines: identifiers never hold a line break. Undefined when a quote is left open.
 */
export function csvCells(line: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return undefined;
        const c = line[i] as string;
        if (c === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += c;
        i++;
      }
      const comma = line.indexOf(',', i);
      const rest = comma === -1 ? line.slice(i) : line.slice(i, comma);
      if (rest.trim() !== '') return undefined;
      cells.push(cell.trim());
      if (comma === -1) return cells;
      i = comma + 1;
    } else {
      const comma = line.indexOf(',', i);
      cells.push((comma === -1 ? line.slice(i) : line.slice(i, comma)).trim());
      if (comma === -1) return cells;
      i = comma + 1;
    }
  }
}

async function* csvRows(path: string, operation: BulkOperation): AsyncGenerator<SourceRow> {
  const kinds = BULK_DEVICE_KINDS[operation];
  let header: string[] | undefined;
  let line = 0;
  for await (const text of lines(path)) {
    line++;
    if (header === undefined) {
      header = csvHeader(path, text, kinds);
      continue;
    }
    if (text.trim() === '') continue;
    const cells = csvCells(text);
    if (cells === undefined) {
      yield { line, unreadable: 'a quoted cell is not closed on its line' };
      continue;
    }
    // A row of empty cells (a spreadsheet's blank row) names no device: skipped like a blank line.
    if (cells.every((cell) => cell === '')) continue;
    if (cells.length > header.length) {
      yield { line, unreadable: `has ${cells.length} cells, the header ${header.length}` };
      continue;
    }
    const deviceIds: DeviceId[] = [];
    cells.forEach((id, i) => {
      if (id !== '') deviceIds.push({ kind: header?.[i] as string, id });
    });
    yield { line, value: { deviceIds } };
  }
  if (header === undefined) throw new DeviceSourceError(`${path} is empty: it needs a header row of identifier kinds`);
}

function csvHeader(path: string, text: string, kinds: readonly string[]): string[] {
  const cells = csvCells(text)?.map((cell) => cell.toLowerCase());
  const example = kinds.includes('eid') && kinds.includes('iccid') ? ' (e.g. eid,iccid)' : '';
  if (cells === undefined || cells.every((cell) => cell === '')) {
    throw new DeviceSourceError(`${path} line 1: the header must name the identifier kinds of its columns${example}`);
  }
  cells.forEach((cell, i) => {
    if (!kinds.includes(cell)) {
      throw new DeviceSourceError(
        `${path} line 1: column ${i + 1} '${cell}' is not an identifier kind of this operation: use ${kinds.join(', ')}`,
      );
    }
    if (cells.indexOf(cell) !== i) throw new DeviceSourceError(`${path} line 1: column '${cell}' appears twice`);
  });
  return cells;
}

async function* jsonLineRows(path: string): AsyncGenerator<SourceRow> {
  let line = 0;
  for await (const text of lines(path)) {
    line++;
    if (text.trim() === '') continue;
    try {
      yield { line, value: JSON.parse(text) as unknown };
    } catch (err) {
      yield { line, unreadable: `is not JSON: ${(err as Error).message}` };
    }
  }
}

async function* sourceRows(source: DeviceSource, operation: BulkOperation): AsyncGenerator<SourceRow> {
  if (isFileSource(source)) {
    const format = source.format ?? FILE_FORMATS[extname(source.file).toLowerCase()];
    if (format === undefined) {
      throw new DeviceSourceError(`${source.file}: name the devices' format by its extension: .csv, .jsonl or .ndjson`);
    }
    yield* format === 'csv' ? csvRows(source.file, operation) : jsonLineRows(source.file);
    return;
  }
  const items = typeof source === 'function' ? source() : source;
  let line = 0;
  for await (const value of items as AsyncIterable<unknown>) yield { line: ++line, value };
}

// ---------- checking rows ----------

/** A row as it will be stored: its position, its device, and why it is skipped when it is. */
export interface CheckedRow extends NewDevice {
  line: number;
}

/** The identifiers of a value, as far as they can be read (a skipped row is stored with what it named). */
function readableIds(value: unknown): DeviceId[] {
  const ids = (value as { deviceIds?: unknown } | null)?.deviceIds;
  if (!Array.isArray(ids)) return [];
  return ids.flatMap((item: unknown) => {
    const { kind, id } = (item ?? {}) as { kind?: unknown; id?: unknown };
    return typeof kind === 'string' && typeof id === 'string' ? [{ kind: kind.toLowerCase(), id }] : [];
  });
}

/**
 * The validator's issue for one device, said of a row: `device.deviceIds[0].id must be 32 digits for kind
 * eid` becomes `eid 1234 must be 32 digits`.
 */
function rowMessage(issue: ValidationIssue, value: unknown): string {
  const ids = (value as { deviceIds?: unknown } | null)?.deviceIds;
  return issue.message
    .replace(/^device\.deviceIds\[(\d+)\]\.id must be (.*) for kind (\S+)$/, (whole, index: string, rule: string) => {
      const item = Array.isArray(ids)
        ? (ids[Number(index)] as { kind?: unknown; id?: unknown } | undefined)
        : undefined;
      return item && typeof item.kind === 'string'
        ? `${item.kind.toLowerCase()} ${String(item.id)} must be ${rule}`
        : whole;
    })
    .replace(/^device\.deviceIds/, 'deviceIds')
    .replace(/^device\b/, 'the device');
}

/**
 * The rows of a source, checked in order with the operation's rules and against every earlier valid row.
 * Rows with problems come with `skipped` (code and message); the caller decides whether that refuses the set.
 */
export async function* checkRows(operation: BulkOperation, source: DeviceSource): AsyncGenerator<CheckedRow> {
  const seen = new SeenIdentifiers();
  let position = 0;
  for await (const row of sourceRows(source, operation)) {
    if (row.unreadable !== undefined) {
      yield {
        line: row.line,
        position: position++,
        device: { deviceIds: [] },
        skipped: { code: 'InvalidDevice', message: row.unreadable },
      };
      continue;
    }
    const { issues, ids } = validateBulkDevice(operation, row.value);
    if (issues.length > 0 || ids === undefined) {
      const message = issues.map((issue) => rowMessage(issue, row.value)).join('; ');
      yield {
        line: row.line,
        position: position++,
        device: { deviceIds: readableIds(row.value) },
        skipped: { code: 'InvalidDevice', message },
      };
      continue;
    }
    const repeated = seen.firstOf(ids);
    if (repeated !== undefined) {
      const { kind, id } = repeated.id;
      yield {
        line: row.line,
        position: position++,
        device: { deviceIds: ids },
        skipped: { code: 'RepeatedDevice', message: `repeats ${kind} ${id} of line ${repeated.line}` },
      };
      continue;
    }
    seen.add(ids, row.line);
    yield { line: row.line, position: position++, device: { deviceIds: ids } };
  }
}

/**
 * The text of one stored row that the devices digest covers: its identifiers sorted (the order of columns
 * does not matter) and whether it is skipped. The same devices from a CSV file, a JSON-lines file or an
 * array give the same digest.
 */
export function rowDigestText(row: NewDevice): string {
  const ids = row.device.deviceIds
    .map(({ kind, id }): [string, string] => [kind.toLowerCase(), id])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return `${JSON.stringify([ids, row.skipped?.code ?? null])}\n`;
}

const PROGRESS_EVERY = 5_000;

/**
 * Reads every device once and says what would be stored: the count, the digest, and the problems (the
 * first `maxProblems`, with their line). Throws DeviceSourceError when the source cannot be read at all.
 */
export async function checkDevices(
  operation: BulkOperation,
  source: DeviceSource,
  options: CheckOptions = {},
): Promise<CheckedDevices> {
  const maxProblems = options.maxProblems ?? 1_000;
  const chunkSize = options.chunkSize ?? UPLOAD_CHUNK;
  const digest = createHash('sha256');
  const chunkDigests: string[] = [];
  let chunk = createHash('sha256');
  const problems: DeviceProblem[] = [];
  let problemCount = 0;
  let total = 0;
  for await (const row of checkRows(operation, source)) {
    total++;
    const text = rowDigestText(row);
    digest.update(text);
    chunk.update(text);
    if (total % chunkSize === 0) {
      chunkDigests.push(chunk.digest('hex'));
      chunk = createHash('sha256');
    }
    if (row.skipped) {
      problemCount++;
      if (problems.length < maxProblems) {
        problems.push({ line: row.line, code: row.skipped.code as DeviceProblemCode, message: row.skipped.message });
      }
    }
    if (total % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'checking', done: total });
  }
  if (total === 0) throw new DeviceSourceError(`${sourceName(source)} names no device`);
  if (total % chunkSize !== 0) chunkDigests.push(chunk.digest('hex'));
  return {
    operation,
    source,
    skipInvalid: options.skipInvalid ?? false,
    unit: isFileSource(source) ? 'line' : 'device',
    total,
    skipped: problemCount,
    devicesDigest: digest.digest('hex'),
    chunkDigests,
    chunkSize,
    problems,
    problemCount,
  };
}

function sourceName(source: DeviceSource): string {
  return isFileSource(source) ? source.file : 'the device list';
}

/** Devices per `appendDevices` call. */
export const UPLOAD_CHUNK = 5_000;

function sameIds(a: DeviceId[], b: DeviceId[]): boolean {
  return (
    rowDigestText({ position: 0, device: { deviceIds: a } }) ===
    rowDigestText({ position: 0, device: { deviceIds: b } })
  );
}

/**
 * Stores the checked devices under `operationId` in chunks of `checked.chunkSize` and seals the upload with
 * their count and digest. The devices are read again, and each chunk is compared with its digest from the
 * check before it is stored: a file changed meanwhile stops the upload before the change reaches the store,
 * and nothing is sealed. An upload cut short is completed by running it again with the same devices
 * (`appendDevices` keeps what is stored); with `resume`, the devices already stored are read back and
 * compared, so other devices under the same operation id are refused rather than mixed in.
 */
export async function storeDevices(
  operations: OperationStore,
  operationId: string,
  checked: CheckedDevices,
  options: { resume?: boolean; onProgress?: (progress: DeviceProgress) => void } = {},
): Promise<void> {
  if (checked.problemCount > 0 && !checked.skipInvalid) throw new InvalidDevicesError(checked);
  let chunk: NewDevice[] = [];
  let digest = createHash('sha256');
  let done = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const index = done / checked.chunkSize;
    if (digest.digest('hex') !== checked.chunkDigests[index]) {
      throw new DeviceSourceError(
        `${sourceName(checked.source)} changed after it was checked (rows ${done + 1} to ${done + chunk.length} differ); nothing was sealed or started: start again`,
      );
    }
    if (options.resume) await compareStored(operations, operationId, chunk);
    await operations.appendDevices(operationId, chunk);
    done += chunk.length;
    chunk = [];
    digest = createHash('sha256');
    options.onProgress?.({ phase: 'uploading', done, total: checked.total });
  };
  for await (const { line: _line, ...row } of checkRows(checked.operation, checked.source)) {
    digest.update(rowDigestText(row));
    chunk.push(row);
    if (chunk.length >= checked.chunkSize) await flush();
  }
  await flush();
  if (done !== checked.total) {
    throw new DeviceSourceError(
      `${sourceName(checked.source)} changed after it was checked (${checked.total} devices checked, ${done} read to store); nothing was sealed or started: start again`,
    );
  }
  await operations.sealOperation(operationId, checked.total, checked.devicesDigest);
}

/** Refuses a chunk whose positions already hold other (pending) devices in the store. */
async function compareStored(operations: OperationStore, operationId: string, chunk: NewDevice[]): Promise<void> {
  const from = chunk[0]?.position ?? 0;
  const stored = await operations.loadPending(operationId, from, from + chunk.length);
  for (const { position, device } of stored) {
    const ours = chunk[position - from];
    if (ours !== undefined && (ours.skipped !== undefined || !sameIds(ours.device.deviceIds, device.deviceIds))) {
      throw new OperationConflictError(
        `operation ${operationId} already holds another device at position ${position} from an earlier, unfinished upload; use another operation id`,
      );
    }
  }
}

// ---------- reading results ----------

export interface ResultsOptions {
  /** Only devices in this state. */
  state?: DeviceState;
  /** Devices per `readResults` call; default 1,000. */
  pageSize?: number;
}

/** Every device of a stored operation with its outcome, in request order, read from the store page by page. */
export async function* results(
  operations: OperationStore,
  operationId: string,
  options: ResultsOptions = {},
): AsyncGenerator<DeviceResult> {
  const limit = options.pageSize ?? 1_000;
  let after = -1;
  for (;;) {
    const page = await operations.readResults(operationId, {
      after,
      limit,
      ...(options.state !== undefined && { state: options.state }),
    });
    yield* page;
    const last = page[page.length - 1];
    if (page.length < limit || last === undefined) return;
    after = last.position;
  }
}

// ---------- repeated devices ----------

/**
 * The identifiers seen so far, each as a 64-bit hash of `kind:id` (id lower-cased, as names.ts deviceKey
 * compares them) with the line that named it, in an open-addressing table of typed arrays: 12 bytes a slot,
 * at most half full, so a million devices of two identifiers take about 50 MB (a Set of strings would take
 * twice that and more). Two identifiers sharing a hash (odds of about 1 in 10^7 for two million) would be
 * reported as a repeat — refused or skipped, never merged silently.
 */
export class SeenIdentifiers {
  private hi = new Uint32Array(1 << 16);
  private lo = new Uint32Array(1 << 16);
  private lines = new Uint32Array(1 << 16);
  private size = 0;

  /** The first identifier of `ids` seen before, with the line that named it first. */
  firstOf(ids: DeviceId[]): { id: DeviceId; line: number } | undefined {
    for (const id of ids) {
      const [h, l] = hash64(`${id.kind}:${id.id.toLowerCase()}`);
      const line = this.lines[this.find(h, l)] as number;
      if (line !== 0) return { id, line };
    }
    return undefined;
  }

  add(ids: DeviceId[], line: number): void {
    for (const id of ids) {
      if ((this.size + 1) * 2 > this.lines.length) this.grow();
      const [h, l] = hash64(`${id.kind}:${id.id.toLowerCase()}`);
      const slot = this.find(h, l);
      if (this.lines[slot] !== 0) continue;
      this.hi[slot] = h;
      this.lo[slot] = l;
      this.lines[slot] = line;
      this.size++;
    }
  }

  /** The slot holding the hash, or the empty slot where it would go (line 0 marks an empty slot). */
  private find(h: number, l: number): number {
    const mask = this.lines.length - 1;
    let slot = l & mask;
    while (this.lines[slot] !== 0 && (this.hi[slot] !== h || this.lo[slot] !== l)) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { hi, lo, lines } = this;
    this.hi = new Uint32Array(lines.length * 2);
    this.lo = new Uint32Array(lines.length * 2);
    this.lines = new Uint32Array(lines.length * 2);
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === 0) continue;
      const slot = this.find(hi[i] as number, lo[i] as number);
      this.hi[slot] = hi[i] as number;
      this.lo[slot] = lo[i] as number;
      this.lines[slot] = lines[i] as number;
    }
  }
}

/** Two independent 32-bit mixes of a string (cyrb53's construction), as unsigned halves of a 64-bit hash. */
function hash64(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}
