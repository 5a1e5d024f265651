/**
 * @module workers/tls/pem-watch
 *
 * Notices when PEM files change on disk, so a worker can rebuild the
 * SecureContexts made from them. Thread: worker. Place in the flow: beside
 * the **tls** phase, off the request path: it only calls back.
 *
 * Why polling (fs.watchFile) and not inotify (fs.watch): certificates are
 * replaced by writing a new file and renaming it over the old one, or (in
 * Kubernetes) by swapping the `..data` symlink of a mounted secret; a watch
 * on the old inode sees neither. A stat of each path every
 * TLS_FILE_POLL_INTERVAL_MS follows the path, whatever was swapped. The
 * callback waits TLS_RELOAD_SETTLE_MS after the last change, so a
 * certificate and its key written one after the other are read together.
 *
 * Watchers are not persistent: they never keep a draining worker alive.
 */
import { type Stats, unwatchFile, watchFile } from 'node:fs';
import { TLS_FILE_POLL_INTERVAL_MS, TLS_RELOAD_SETTLE_MS } from '../../src/shared/limits.ts';

export class PemWatch {
  private readonly paths: readonly string[];
  private readonly onStat: (current: Stats, previous: Stats) => void;
  private readonly onSettled: () => void;
  private timer: NodeJS.Timeout | null;
  private isClosed: boolean;

  /**
   * Watch `paths` (duplicates are fine); `onChange` runs once the files have
   * been quiet for TLS_RELOAD_SETTLE_MS after a change. Never throws.
   */
  constructor(paths: readonly string[], onChange: () => void) {
    this.paths = [...new Set(paths)];
    this.timer = null;
    this.isClosed = false;
    this.onSettled = () => {
      this.timer = null;
      if (!this.isClosed) onChange();
    };
    this.onStat = (current, previous) => {
      const isSame =
        current.mtimeMs === previous.mtimeMs &&
        current.ino === previous.ino &&
        current.size === previous.size;
      if (isSame || this.isClosed) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(this.onSettled, TLS_RELOAD_SETTLE_MS);
      this.timer.unref();
    };
    for (const path of this.paths) {
      watchFile(path, { persistent: false, interval: TLS_FILE_POLL_INTERVAL_MS }, this.onStat);
    }
  }

  /** Stop watching (the listener closed or its settings were replaced). */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const path of this.paths) unwatchFile(path, this.onStat);
  }
}
