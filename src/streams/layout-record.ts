// The layout is recorded in the deployment itself (a KV bucket), so that agents and collectors
// started without a partition count use the deployment's, and a disagreeing count is refused
// instead of putting hosts in the wrong partition.
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { Layout } from "./layout.js";

export const LAYOUT_BUCKET = "shipper_layouts";

function keyFor(prefix: string): string {
  // KV keys allow dots, so a dotted prefix is its own key.
  return prefix;
}

export async function readLayoutRecord(nc: NatsConnection, prefix: string): Promise<Layout | undefined> {
  const kvm = new Kvm(nc);
  let kv;
  try {
    kv = await kvm.open(LAYOUT_BUCKET);
    await kv.status();
  } catch {
    return undefined; // no bucket: a deployment made by hand (Part 8) or not set up yet
  }
  const entry = await kv.get(keyFor(prefix));
  if (!entry || entry.operation !== "PUT" || entry.length === 0) return undefined;
  return entry.json<Layout>();
}

export async function writeLayoutRecord(nc: NatsConnection, layout: Layout, replicas = 1): Promise<void> {
  const kvm = new Kvm(nc);
  const kv = await kvm.create(LAYOUT_BUCKET, { history: 5, replicas, description: "shipper deployment layouts" });
  await kv.put(keyFor(layout.prefix), JSON.stringify(layout));
}
