// Connecting to NATS with visible retries: the original died at once when the server was not
// there; we keep trying (or stop after --connect-attempts) and say what is wrong each time.
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";
import type { ConnectionSettings } from "../config/connection.js";
import { ConfigError } from "../config/errors.js";
import type { Logger } from "./log.js";
import { fastFramesWanted, installFastMsgFrames } from "./fast-msg-frames.js";

export function connectionOptions(settings: ConnectionSettings): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: settings.servers,
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    pingInterval: 10_000,
  };
  if (settings.credsFile) {
    opts.authenticator = credsAuthenticator(readFileSync(settings.credsFile));
  }
  if (settings.certFile || settings.caFile) {
    opts.tls = {
      ...(settings.certFile ? { certFile: settings.certFile, keyFile: settings.keyFile } : {}),
      ...(settings.caFile ? { caFile: settings.caFile } : {}),
    };
  }
  return opts;
}

export async function connectWithRetry(
  settings: ConnectionSettings,
  log: Logger,
  signal?: AbortSignal,
): Promise<NatsConnection> {
  const opts = connectionOptions(settings);
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect(opts);
      if (fastFramesWanted() && !installFastMsgFrames(nc)) {
        log.debug("nats.js internals are not as expected: messages are parsed by nats.js alone");
      }
      watchStatus(nc, log);
      return nc;
    } catch (err) {
      const reason = (err as Error).message;
      if (/authori[sz]ation|authentication|permission/i.test(reason)) {
        throw new ConfigError(`NATS at ${settings.servers.join(",")} refused our credentials: ${reason}`);
      }
      if (settings.connectAttempts > 0 && attempt >= settings.connectAttempts) {
        throw new ConfigError(
          `cannot reach NATS at ${settings.servers.join(",")} after ${attempt} attempts: ${reason}; check NATS_URL and that the server runs`,
        );
      }
      const wait = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
      log.warn(`cannot reach NATS at ${settings.servers.join(",")} (${reason}); retrying in ${wait} ms (attempt ${attempt})`);
      await new Promise((r) => setTimeout(r, wait));
      if (signal?.aborted) throw new Error("stopped while connecting to NATS");
    }
  }
}

function watchStatus(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          log.warn(`disconnected from NATS ${s.server}; reconnecting`);
          break;
        case "reconnect":
          log.info(`reconnected to NATS ${s.server}`);
          break;
        case "error":
          log.error(`NATS error: ${s.error.message}`);
          break;
        default:
          break;
      }
    }
  })();
}
