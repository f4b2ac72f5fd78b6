/**
 * Where a saga stands, for the status query and for operators' searches (search attribute `SagaStep`).
 * Workflow code: deterministic, no I/O.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { upsertSearchAttributes } from '@temporalio/workflow';
import { deviceKey, searchAttributes, type DeviceId, type WorkflowType } from '../../contracts/index.js';

export class SagaPhase<P extends string> {
  /** Attributes that go out with the next upsert (a light saga upserts once per phase it waits in). */
  private staged: SearchAttributeUpdatePair[] = [];

  /** `onChange`: called after every move (the saga's current details in the UI). */
  constructor(
    private current: P,
    private readonly onChange: () => void = () => undefined,
  ) {}

  /** Attributes to upsert with the next `set` (a later value of the same key replaces an earlier one). */
  stage(pairs: SearchAttributeUpdatePair[]): void {
    const keys = new Set(pairs.map((p) => p.key.name));
    this.staged = [...this.staged.filter((p) => !keys.has(p.key.name)), ...pairs];
  }

  /** Moves to `next` without an upsert: a phase the saga passes through (the status query still shows it). */
  pass(next: P): void {
    this.current = next;
    this.onChange();
  }

  get value(): P {
    return this.current;
  }

  /** Moves to `next` and says so in `SagaStep`. */
  set(next: P): void {
    this.current = next;
    upsertSearchAttributes([...this.staged, { key: searchAttributes.SagaStep, value: next }]);
    this.staged = [];
    this.onChange();
  }

  /** Ends as failed before any work: one upsert with the operation, so a search finds the failed run. */
  failAtStart(operation: WorkflowType, failed: P): void {
    this.current = failed;
    upsertSearchAttributes([
      { key: searchAttributes.Operation, value: operation },
      { key: searchAttributes.SagaStep, value: failed },
    ]);
  }
}

/** What a saga is about, for operators' searches: its operation, account and devices. */
export function sagaTags({
  operation,
  account,
  devices,
}: {
  operation: WorkflowType;
  account?: string;
  devices?: DeviceId[];
}): SearchAttributeUpdatePair[] {
  const pairs: SearchAttributeUpdatePair[] = [{ key: searchAttributes.Operation, value: operation }];
  if (account !== undefined) pairs.push({ key: searchAttributes.ThingSpaceAccount, value: account });
  if (devices) pairs.push({ key: searchAttributes.DeviceIds, value: devices.map(deviceKey) });
  return pairs;
}
