// The consuming half of the pipeline ceiling (pipeline-ceiling.ts), in a worker thread with its own
// connection: a plain nats.js pull consume() of one durable consumer, AckAll on every 1,000th line
// and the last, nothing written. A thread of its own, as the collector is a process of its own, so
// the publisher's event loop and this one do not take turns on one thread.
import { parentPort, workerData } from "node:worker_threads";
import { connect } from "@nats-io/transport-node";
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { ACK_EVERY, MAX_MESSAGES } from "./plain-consume.js";

export interface PlainConsumerJob {
  url: string;
  stream: string;
  consumer: string;
  /** Lines to receive before stopping. */
  count: number;
  /** Int32Array over it: [0] lines received so far, for the main thread to watch. */
  progress: SharedArrayBuffer;
}

/** What the worker posts when done: wall-clock times (performance.timeOrigin + now()) of the first and last line. */
export interface PlainConsumerDone {
  firstAt: number;
  lastAt: number;
}

const job = workerData as PlainConsumerJob;
const progress = new Int32Array(job.progress);
const wallNow = () => performance.timeOrigin + performance.now();

const nc = await connect({ servers: job.url });
const consumer = await jetstream(nc).consumers.get(job.stream, job.consumer);
let received = 0;
let firstAt = 0;
let lastAt = 0;
let finish!: () => void;
const finished = new Promise<void>((resolve) => (finish = resolve));
const messages = await consumer.consume({
  max_messages: MAX_MESSAGES,
  callback: (m: JsMsg) => {
    if (received === 0) firstAt = wallNow();
    received++;
    if (received % ACK_EVERY === 0 || received === job.count) m.ack();
    Atomics.store(progress, 0, received);
    if (received === job.count) {
      lastAt = wallNow();
      finish();
    }
  },
});
// Ready: the main thread starts publishing once the first pull request has gone out.
await nc.flush();
parentPort!.postMessage("ready");
await finished;
await nc.flush(); // the last ack reaches the server before the connection goes
messages.stop();
await nc.close();
parentPort!.postMessage({ firstAt, lastAt } satisfies PlainConsumerDone);
