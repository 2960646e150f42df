// Header names on the wire. Line messages carry only `Nats-Msg-Id` (JetStream de-duplication);
// the payload stays the raw line, so other consumers of the stream see the original format.

export const MSG_ID_HEADER = "Nats-Msg-Id";
