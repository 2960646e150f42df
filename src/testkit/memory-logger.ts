// A pino logger whose output a test can read back, to check what a component said.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export function memoryLogger(): { log: Logger; text: () => string } {
  let text = "";
  const sink = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), text: () => text };
}
