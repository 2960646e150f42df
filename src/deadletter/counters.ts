// What the dead-letter worker did, as plain numbers (logged at stop). Every advisory it read is in
// exactly one of the first five counts.

export interface DeadLetterCounters {
  /** Originals copied into the dead-letter stream. */
  stored: number;
  /** Advisories for a dead letter that was already stored (repeated or redelivered advisories). */
  alreadyStored: number;
  /** Originals that were gone from their stream (retention, deletion): recorded without their line. */
  lost: number;
  /** Advisories of streams or consumers of other deployments (or other applications): skipped. */
  otherConsumers: number;
  /** Messages on the advisory stream that are not a max-deliveries or terminated advisory. */
  malformed: number;
  /** Attempts that failed (server away, dead-letter stream missing) and will be tried again. */
  failedAttempts: number;
}

export function newDeadLetterCounters(): DeadLetterCounters {
  return { stored: 0, alreadyStored: 0, lost: 0, otherConsumers: 0, malformed: 0, failedAttempts: 0 };
}
