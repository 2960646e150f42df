// Which partitions a collector reads: the ones it is told (SHIPPER_READ_PARTITIONS, checked
// against the deployment's count), else every partition of the recorded layout, else the
// original's default, partition 0.
import { parsePartitionList } from "../config/values.js";
import { partitionIds, type Layout } from "../streams/layout.js";

export function choosePartitions(
  requested: { setting: string; raw: string } | undefined,
  layout: Pick<Layout, "partitions"> | undefined,
): number[] {
  if (requested) {
    // A count of 0 means one partition (0), so only id 0 is valid then.
    const count = layout ? Math.max(1, layout.partitions) : undefined;
    return parsePartitionList(requested.setting, requested.raw, count);
  }
  return layout ? partitionIds(layout) : [0];
}
