// NATS connection settings: the original's variables (NATS_URL, NATS_CREDS, NATS_CERTIFICATE,
// NATS_KEY, NATS_CA) and the matching flags, checked once up front.
import { existsSync, readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";

export interface ConnectionSettings {
  servers: string[];
  credsFile?: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** Connection attempts before giving up at start; 0 means keep trying. */
  connectAttempts: number;
  name: string;
}

export interface ConnectionFlags {
  server?: string;
  creds?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  connectAttempts?: number;
}

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

function readableFile(setting: string, path: string | undefined): string | undefined {
  if (path === undefined || path === "") return undefined;
  if (!existsSync(path)) throw new ConfigError(`${setting} names "${path}", which does not exist`);
  try {
    readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${setting} names "${path}", which cannot be read: ${(err as Error).message}`);
  }
  return path;
}

/**
 * @param requireUrl the agent and collector need NATS_URL like the original; admin commands
 *   (setup, report, tail) fall back to a local server.
 */
export function connectionSettings(
  env: NodeJS.ProcessEnv,
  flags: ConnectionFlags,
  opts: { requireUrl: boolean; name: string },
): ConnectionSettings {
  const url = flags.server ?? env.NATS_URL;
  if ((url === undefined || url.trim() === "") && opts.requireUrl) {
    throw new ConfigError("Please set the NATS Server URL using NATS_URL (or --server)");
  }
  const servers = (url && url.trim() !== "" ? url : DEFAULT_SERVER)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const s of servers) {
    if (!/^((nats|tls):\/\/)?[^\s/]+(:[0-9]+)?$/.test(s)) {
      throw new ConfigError(`NATS_URL has "${s}", which is not a server address like nats://host:4222`);
    }
  }
  const certFile = readableFile("NATS_CERTIFICATE", flags.tlsCert ?? env.NATS_CERTIFICATE);
  const keyFile = readableFile("NATS_KEY", flags.tlsKey ?? env.NATS_KEY);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError("client TLS needs both NATS_CERTIFICATE and NATS_KEY; set both or neither");
  }
  return {
    servers,
    credsFile: readableFile("NATS_CREDS", flags.creds ?? env.NATS_CREDS),
    certFile,
    keyFile,
    caFile: readableFile("NATS_CA", flags.tlsCa ?? env.NATS_CA),
    connectAttempts: flags.connectAttempts ?? 0,
    name: opts.name,
  };
}
