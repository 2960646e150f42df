// One logger for every program: human-readable lines on stderr by default, JSON lines with
// SHIPPER_LOG_FORMAT=json (for log pipelines). Level from SHIPPER_LOG_LEVEL (default info).
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export function createLogger(name: string, env: NodeJS.ProcessEnv = process.env): Logger {
  const level = env.SHIPPER_LOG_LEVEL ?? "info";
  if (env.SHIPPER_LOG_FORMAT === "json") {
    return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
  }
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: false,
    translateTime: "SYS:yyyy/mm/dd HH:MM:ss",
    ignore: "pid,hostname",
    messageFormat: "{msg}",
  });
  return pino({ name, level }, stream);
}
