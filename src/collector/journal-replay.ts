// Start-up repair from a partition's journal (partition-journal.ts): every record written since the
// last checkpoint is applied again, its bytes written back at their place in the host files and its
// marks into the state. After a crash of the collector alone the bytes are already there and are
// written over with the same; after a power loss the host files may have lost unsynced pages, and
// this puts them back. The caller then saves the state and empties the journal (a checkpoint), and
// cuts back what was written after the last record (cutBackUnsavedWrites).
import { constants } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../shared/log.js";
import type { JournalRecord } from "./partition-journal.js";
import { DIRECTORY_MODE, FILE_MODE } from "./file-sink.js";
import { copyHosts, copyMark, dictionary, missing, type HostMark, type PartitionStateData } from "./partition-state.js";

export interface ReplayOutcome {
  data: PartitionStateData;
  /** Files written back. */
  files: number;
  bytes: number;
}

/** The state after `records` (on top of `state`), with their bytes written back into the files and fsynced. */
export async function replayJournal(state: PartitionStateData | undefined, records: readonly JournalRecord[], log: Logger, source: string): Promise<ReplayOutcome | undefined> {
  const first = records[0];
  if (!first) return undefined;
  const hosts = state ? copyHosts(state.hosts) : dictionary<HostMark>();
  const data: PartitionStateData = { version: 2, stream: first.stream, streamCreated: first.streamCreated, sequence: state?.sequence ?? 0, hosts };
  // The writes per file, in record order (a host's bytes of consecutive records are consecutive).
  const writes = new Map<string, { at: number; bytes: Buffer }[]>();
  for (const record of records) {
    data.stream = record.stream;
    data.streamCreated = record.streamCreated;
    data.sequence = record.sequence; // not the maximum: a stream made again starts its sequences over
    record.hosts.forEach((h, i) => {
      hosts[h.host] = copyMark(h);
      if (h.length === 0) return;
      let list = writes.get(h.path);
      if (!list) writes.set(h.path, (list = []));
      list.push({ at: h.size - h.length, bytes: record.data[i]! });
    });
  }
  const current = new Set(Object.values(hosts).map((m) => m.path));
  let files = 0;
  let bytes = 0;
  for (const [path, list] of writes) {
    const size = await stat(path).then((s) => s.size, missing);
    if (size === undefined && !current.has(path)) {
      // An earlier day's file removed since (by retention or by hand): not made again.
      log.warn(`${source}: "${path}" is gone; the journal's ${list.length} write(s) to it are not replayed (the host writes to a newer file)`);
      continue;
    }
    // A file shorter than where the journal's first write to it starts was cut by someone else
    // after the collector stopped: its bytes go after what is there, as a running collector would.
    // (A file gone altogether counts as empty: its bytes start a new one, with no hole before them.)
    const start = list[0]!.at;
    const shift = (size ?? 0) < start ? (size ?? 0) - start : 0;
    if (shift < 0) log.warn(`${source}: "${path}" is ${size === undefined ? "gone" : `shorter (${size} bytes)`} but the journal builds on ${start} bytes of it: changed by someone else; its journal bytes are written after what is there`);
    if (size === undefined) await mkdir(dirname(path), { recursive: true, mode: DIRECTORY_MODE });
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT, FILE_MODE);
    try {
      for (const w of list) {
        let done = 0;
        while (done < w.bytes.length) done += (await fh.write(w.bytes, done, w.bytes.length - done, w.at + shift + done)).bytesWritten;
        bytes += w.bytes.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    files++;
    if (shift < 0) for (const mark of Object.values(hosts)) if (mark.path === path) mark.size += shift;
  }
  return { data, files, bytes };
}
