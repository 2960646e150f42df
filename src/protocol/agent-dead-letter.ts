// Where an agent sends a line it will not publish on the line's subject: with
// `--oversize dead-letter`, a line over the max payload goes to `shipper.dlq.agent.<host>` as a
// JetStream publish (PubAck awaited, same message id as the line would have had). When no stream
// captures that subject, the agent refuses the line loudly (logged with its file and offset, and
// counted) and moves on. Headers on such a message:
// - `Nats-Msg-Id`: the line's id (msg-id.ts), or `<line id>:p<k>` for a part;
// - `Shipper-Subject`: the subject the line was meant for;
// - `Shipper-Reason`: why it is here (e.g. "oversize: 2000000 bytes, max 1048576");
// - `Shipper-Part: <k>/<n>` when the line itself is too large for one message (line-parts.ts).

export const AGENT_DEAD_LETTER_PREFIX = "shipper.dlq.agent";
export const ORIGINAL_SUBJECT_HEADER = "Shipper-Subject";
export const REASON_HEADER = "Shipper-Reason";

export function agentDeadLetterSubject(host: string): string {
  return `${AGENT_DEAD_LETTER_PREFIX}.${host}`;
}
