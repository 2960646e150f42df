// Which partition count an agent uses: the explicit one (flag or SHIPPER_PARTITIONS), else the
// one `shipper setup` recorded for the prefix, else 0 (the original's default). An explicit
// count that disagrees with the record is refused: it would put the host in the wrong partition.
import { ConfigError } from "../config/errors.js";
import type { Layout } from "../streams/layout.js";

export function resolvePartitionCount(
  explicit: number | undefined,
  recorded: Pick<Layout, "prefix" | "partitions"> | undefined,
  setting = "SHIPPER_PARTITIONS (--partitions)",
): number {
  if (recorded === undefined) return explicit ?? 0;
  if (explicit === undefined || explicit === recorded.partitions) return recorded.partitions;
  throw new ConfigError(
    `${setting} is ${explicit}, but the deployment for prefix "${recorded.prefix}" was set up with ` +
      `${recorded.partitions} partitions; set it to ${recorded.partitions} or leave it unset, ` +
      `otherwise this host's lines would go to the wrong partition`,
  );
}
