/**
 * A configuration mistake: the message names the setting, what was wrong and what to do.
 * The CLI prints it as one line and exits non-zero.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
