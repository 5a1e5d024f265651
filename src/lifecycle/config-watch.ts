/**
 * @module src/lifecycle/config-watch
 *
 * Watch the config file and ask for a reload when its content changes.
 * Thread: main. Place in the flow: file system -> **watch** -> debounce ->
 * FerryHandle.reloadFile('file-watch') (the same path as SIGHUP and
 * `ferryctl reload`).
 *
 * Why the folder and not the file: a Kubernetes ConfigMap volume updates by
 * writing a new `..<timestamp>` folder and atomically renaming a `..data_tmp`
 * symlink over `..data`; `ferry.yaml` itself is a symlink to
 * `..data/ferry.yaml` that never changes. Editors write a new file and rename
 * it over the old one. Either way a watch on the file's inode goes silent
 * (the inode it watched is gone), while a watch on the folder sees every
 * rename. So the folder is watched, any event in it starts the debounce, and
 * when it ends the file is read through its symlinks and its content hashed:
 * the same bytes as the last version seen (another key of the ConfigMap
 * changed, an editor's backup file) do nothing.
 *
 * Not covered: a ConfigMap mounted with `subPath` (Kubernetes never updates
 * those) and a config symlink that points outside its folder.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';

/** Quiet time after the last event before the file is read: a ConfigMap swap or an editor save is several events. */
export const CONFIG_WATCH_DEBOUNCE_MS = 300;

export interface ConfigWatchOptions {
  readonly path: string;
  readonly log: Logger;
  /** Called once per content change, after the debounce; the next change waits for it to settle. */
  readonly onChange: () => Promise<unknown>;
  readonly debounceMs?: number;
}

export interface ConfigWatch {
  close(): void;
}

async function contentHash(path: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  } catch {
    return null; // between a delete and a rename, or unreadable: the next event tries again
  }
}

/**
 * Start watching. Thread: main. Resolves once the current content is hashed
 * (changes after that are seen). Throws if the folder cannot be watched.
 */
export async function watchConfigFile(options: ConfigWatchOptions): Promise<ConfigWatch> {
  const path = resolve(options.path);
  const folder = dirname(path);
  const debounceMs = options.debounceMs ?? CONFIG_WATCH_DEBOUNCE_MS;
  let lastHash = await contentHash(path);
  let timer: NodeJS.Timeout | null = null;
  let isBusy = false;
  let isPending = false;
  let isClosed = false;

  const check = async (): Promise<void> => {
    if (isBusy) {
      isPending = true; // one more look once the running reload settles
      return;
    }
    isBusy = true;
    try {
      const hash = await contentHash(path);
      if (hash !== null && hash !== lastHash && !isClosed) {
        lastHash = hash;
        options.log.info({ config: path }, 'config file changed on disk: reloading');
        await options.onChange();
      }
    } catch (error) {
      options.log.error({ err: error, config: path }, 'config file watch: reload failed');
    } finally {
      isBusy = false;
    }
    if (isPending && !isClosed) {
      isPending = false;
      await check();
    }
  };

  const onEvent = () => {
    if (isClosed) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void check();
    }, debounceMs);
  };

  const watcher: FSWatcher = watch(folder, { persistent: false }, onEvent);
  watcher.on('error', (error) => {
    options.log.error(
      { err: error, config: path },
      'config file watch stopped (the folder went away?); SIGHUP and ferryctl reload still work',
    );
  });
  options.log.info(
    { config: path, folder, file: basename(path), debounceMs },
    'watching the config file; a change is applied like SIGHUP (--no-watch-config turns this off)',
  );
  return {
    close() {
      isClosed = true;
      if (timer !== null) clearTimeout(timer);
      watcher.close();
    },
  };
}
