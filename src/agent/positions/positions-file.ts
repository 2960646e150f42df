// The saved positions on disk: `positions.json` in the state directory, versioned JSON,
// replaced atomically (write a temporary file, fsync it, rename it over the old one, fsync the
// directory), so a crash at any moment leaves either the old or the new file, never half of one.
//
// Format (version 1):
//   {
//     "format": "shipper-agent-positions",
//     "version": 1,
//     "host": "web1.example.net",                 // the host name of the agent that saved it
//     "savedAt": "2025-01-31T12:00:00.000Z",
//     "files": [
//       { "path": "/var/log/app.log",              // the followed path that last read this file
//         "dev": "2049", "ino": "131074",          // the file (decimal strings: inodes exceed 2^53)
//         "born": "1738324000123456789",           // optional: its birth time in ns (tells a reused inode)
//         "fingerprint": "9f3a1c2e",               // FNV-1a of its first line (fingerprint.ts)
//         "generation": 0,                         // bumped at each truncation (copytruncate)
//         "offset": 1234567,                       // every line before this offset is acknowledged
//         "complete": false,                       // the file was left (rotated or deleted) and all of it is acknowledged
//         "deleted": true,                         // optional: it was deleted (its inode may come back for another file)
//         "updatedAt": 1738324800000 }             // ms since the epoch, for pruning
//     ]
//   }
import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../../config/errors.js";

export const POSITIONS_FILE = "positions.json";
export const POSITIONS_FORMAT = "shipper-agent-positions";
export const POSITIONS_VERSION = 1;

const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);

const savedFileSchema = z.strictObject({
  path: z.string().min(1),
  dev: decimal,
  ino: decimal,
  born: decimal.optional(),
  fingerprint: z.string().regex(/^[0-9a-f]{8}$/),
  generation: z.number().int().min(0),
  offset: z.number().int().min(0),
  complete: z.boolean(),
  deleted: z.boolean().optional(),
  updatedAt: z.number().int().min(0),
});

const positionsSchema = z.strictObject({
  format: z.literal(POSITIONS_FORMAT),
  version: z.literal(POSITIONS_VERSION),
  host: z.string(),
  savedAt: z.string(),
  files: z.array(savedFileSchema),
});

export type SavedFile = z.infer<typeof savedFileSchema>;
export type SavedPositions = z.infer<typeof positionsSchema>;

/** The saved positions in `dir`, or undefined when there are none yet. */
export async function readPositions(dir: string): Promise<SavedPositions | undefined> {
  const path = join(dir, POSITIONS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`cannot read the saved positions "${path}": ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `the saved positions "${path}" are not valid JSON (${(err as Error).message}); move the file away to start every file ` +
        `from its beginning (lines may then be sent twice), or restore it`,
    );
  }
  const version = (json as { version?: unknown })?.version;
  if (typeof version === "number" && version !== POSITIONS_VERSION) {
    throw new ConfigError(
      `the saved positions "${path}" have format version ${version}, this agent reads version ${POSITIONS_VERSION}; ` +
        `run the agent version that wrote them, or move the file away`,
    );
  }
  const parsed = positionsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `the saved positions "${path}" are not valid: ${issue.path.join(".") || "(top)"}: ${issue.message}; move the file away ` +
        `to start every file from its beginning (lines may then be sent twice), or restore it`,
    );
  }
  return parsed.data;
}

/** Replaces the saved positions in `dir` atomically and durably. */
export async function writePositions(dir: string, positions: SavedPositions): Promise<void> {
  const path = join(dir, POSITIONS_FILE);
  const temp = join(dir, `${POSITIONS_FILE}.${process.pid}.tmp`);
  const fh = await open(temp, "w", 0o644);
  try {
    await fh.writeFile(JSON.stringify(positions, null, 1) + "\n", "utf8");
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(temp, path);
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
