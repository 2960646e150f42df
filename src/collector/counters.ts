// What the collector did, as plain numbers: logged at shutdown today, exported as metrics later.
// Every line that is not written to its host's file is in one of these counts, with its reason.

export interface CollectorCounters {
  /** Lines appended to per-host files, and their bytes (with the "\n"). */
  linesWritten: number;
  bytesWritten: number;
  /** Batches written, flushed and acknowledged. */
  batches: number;
  /** Lines of hosts whose names cannot be a directory, kept in the quarantine file. */
  quarantined: number;
  /** Lines whose subject is not `<prefix>.p<N>.<host>`, kept in the quarantine file. */
  unparsable: number;
  /** Failed writes, syncs and quarantine appends (each retried in place until it works). */
  writeErrors: number;
  /** Redelivered lines this collector had already written, acknowledged and not written again. */
  duplicatesSkipped: number;
  /** Deliveries that never reached the collector (it waited for their redelivery). */
  deliveryGaps: number;
  /** Lines an agent sent again (same origin, offset at or below the last written): not written again. */
  resendsSkipped: number;
  /** Lines the consumer skipped, read straight from the stream and written. */
  gapFilled: number;
  /** Stream sequences skipped by the consumer and no longer in the stream (removed by its limits): lost. */
  linesLost: number;
  /** Split lines of which a part is missing: their parts are kept in quarantine, never written as a line. */
  incompleteLines: number;
}

export function newCounters(): CollectorCounters {
  return {
    linesWritten: 0,
    bytesWritten: 0,
    batches: 0,
    quarantined: 0,
    unparsable: 0,
    writeErrors: 0,
    duplicatesSkipped: 0,
    deliveryGaps: 0,
    resendsSkipped: 0,
    gapFilled: 0,
    linesLost: 0,
    incompleteLines: 0,
  };
}
