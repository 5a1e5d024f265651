/**
 * @module src/control/handlers/args
 *
 * Argument checking shared by the handlers: zod schemas for the shapes in
 * proto/control/messages.ts, and the adapter that turns a zod failure into
 * FERRY_ERR_CONTROL_BAD_ARGS with one detail per problem. Thread: main.
 *
 * These check shape only (types, lengths, list sizes). Values that the
 * config also holds (addresses, weights, durations, algorithm names) are
 * checked by parsing the edited config, so their messages match `ferry
 * validate` word for word.
 */
import { z } from 'zod';
import { badArgs } from '../errors.ts';
import { CONTROL_LIST_ITEMS_MAX } from '../limits.ts';

/** Longest target-group name (config: 63) and address text accepted as an argument. */
const NAME_LENGTH_MAX = 63;
const ADDRESS_LENGTH_MAX = 300;

export const groupNameArg = z.string().min(1).max(NAME_LENGTH_MAX);
export const addressArg = z.string().min(1).max(ADDRESS_LENGTH_MAX);
export const noArgs = z.strictObject({});

export function listArg<T extends z.ZodType>(item: T) {
  return z.array(item).min(1).max(CONTROL_LIST_ITEMS_MAX);
}

/** Check `args` against a handler's schema: the typed args, or a throw of FERRY_ERR_CONTROL_BAD_ARGS. */
export function parseArgs<Schema extends z.ZodType>(
  op: string,
  schema: Schema,
  args: unknown,
): z.output<Schema> {
  const parsed = schema.safeParse(args);
  if (!parsed.success) throw badArgs(op, parsed.error);
  return parsed.data;
}
