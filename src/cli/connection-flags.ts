// The connection flags every command shares; each falls back to the original's variable.
import { Command, Option } from "commander";
import { connectionSettings, type ConnectionSettings } from "../config/connection.js";
import { parseInteger } from "../config/values.js";

export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option("-s, --server <urls>", "NATS server URLs, comma-separated").env("NATS_URL"))
    .addOption(new Option("--creds <file>", "NATS credentials file").env("NATS_CREDS"))
    .addOption(new Option("--tls-cert <file>", "client TLS certificate").env("NATS_CERTIFICATE"))
    .addOption(new Option("--tls-key <file>", "client TLS key").env("NATS_KEY"))
    .addOption(new Option("--tls-ca <file>", "CA bundle to verify the server").env("NATS_CA"))
    .option("--connect-attempts <n>", "give up after this many failed connection attempts at start (0: never)", "0");
}

export interface ConnectionFlagValues {
  server?: string;
  creds?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  connectAttempts?: string;
}

/** Connection settings from the flags, falling back to the original's variables in `env`. */
export function settingsFromFlags(
  flags: ConnectionFlagValues,
  opts: { requireUrl: boolean; name: string },
  env: NodeJS.ProcessEnv = {},
): ConnectionSettings {
  return connectionSettings(
    env,
    {
      server: flags.server,
      creds: flags.creds,
      tlsCert: flags.tlsCert,
      tlsKey: flags.tlsKey,
      tlsCa: flags.tlsCa,
      connectAttempts: parseInteger("--connect-attempts", flags.connectAttempts ?? "0", 0),
    },
    opts,
  );
}
