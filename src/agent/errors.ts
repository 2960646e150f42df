// Failures that stop the agent, each with a message saying what to do.
import { ConfigError } from "../config/errors.js";

/**
 * The server answered "no responders" for a line's subject: no stream captures it, so every line
 * would be lost. A deployment mistake, reported like a configuration error (one line, exit 2).
 */
export class NoStreamError extends ConfigError {
  constructor(readonly subject: string) {
    super(
      `no JetStream stream captures the subject "${subject}": run \`shipper setup\` for this prefix and partition count ` +
        `(or check SHIPPER_SUBJECT and SHIPPER_PARTITIONS)`,
    );
  }
}

/** publish() after close(), or after the connection closed for good. */
export class PublisherClosedError extends Error {
  override readonly name = "PublisherClosedError";
}
