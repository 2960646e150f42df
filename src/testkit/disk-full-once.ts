// A file system for tests of the collector's synchronous appends (FileSink.appendNow): real files,
// but once `failNext` is set, the next such append writes only its first bytes and then fails as
// a full disk does, so what is left behind and what the retry writes can be checked.
import { nodeSinkFileSystem, type SinkFileSystem } from "../collector/sink-fs.js";

export interface DiskFullOnce {
  fs: SinkFileSystem;
  /** Set to make the next synchronous append fail after `partBytes` bytes. */
  failNext: boolean;
  /** Synchronous appends asked for so far (failed or not). */
  appendsNow: number;
}

export function diskFullOnce(partBytes: number): DiskFullOnce {
  const state: DiskFullOnce = {
    failNext: false,
    appendsNow: 0,
    fs: {
      ...nodeSinkFileSystem,
      async openAppend(path, mode, fresh) {
        const file = await nodeSinkFileSystem.openAppend(path, mode, fresh);
        return {
          sizeAtOpen: file.sizeAtOpen,
          append: (data) => file.append(data),
          appendNow(data) {
            state.appendsNow++;
            if (state.failNext) {
              state.failNext = false;
              file.appendNow!(data.subarray(0, partBytes));
              throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
            }
            return file.appendNow!(data);
          },
          sync: () => file.sync(),
          truncate: (n) => file.truncate(n),
          close: () => file.close(),
        };
      },
    },
  };
  return state;
}
