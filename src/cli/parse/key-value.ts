/**
 * `key=value` flag values: --label, -o/--opt, --aux-address, --env, --env-rm.
 *
 * Docker's rules, kept: a label or driver option without `=` has the empty value; an
 * environment variable without `=` takes its value from the CLI's own environment when set
 * there (and is passed as a bare name, meaning "unset", when not). Auxiliary addresses need
 * both a name and an IP address. An empty key is refused everywhere.
 */
import { isIP } from 'node:net';
import { UsageError, badFlagValue } from './usage-error.ts';

function splitPair(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

/** `k=v` or `k` (value ""), as --label takes them. */
export function parseLabel(text: string, flag = '--label'): [string, string] {
  const [key, value] = splitPair(text);
  if (key.trim() === '') throw badFlagValue(flag, text, 'label name is empty');
  return [key, value ?? ''];
}

/** `k=v` or `k` (value ""), as -o/--opt takes them. */
export function parseOpt(text: string, flag = '--opt'): [string, string] {
  const [key, value] = splitPair(text);
  if (key.trim() === '') throw badFlagValue(flag, text, 'option name is empty');
  return [key, value ?? ''];
}

/** `name=IP`, as --aux-address takes it. */
export function parseAuxAddress(text: string, flag = '--aux-address'): [string, string] {
  const [key, value] = splitPair(text);
  if (value === undefined) throw badFlagValue(flag, text, 'want name=IP');
  if (key.trim() === '') throw badFlagValue(flag, text, 'auxiliary address name is empty');
  if (isIP(value) === 0) throw badFlagValue(flag, text, `${JSON.stringify(value)} is not an IP address`);
  return [key, value];
}

/**
 * `NAME=value`, or `NAME` which takes the CLI's own value of NAME when it is set (as
 * Docker does) and otherwise stays a bare name.
 */
export function parseEnv(text: string, env: Readonly<Record<string, string | undefined>> = process.env, flag = '--env'): string {
  const [key, value] = splitPair(text);
  if (key === '') throw badFlagValue(flag, text, 'variable name is empty');
  if (/\s/.test(key)) throw badFlagValue(flag, text, 'variable name contains whitespace');
  if (value !== undefined) return text;
  const local = env[key];
  return local === undefined ? key : `${key}=${local}`;
}

/** A variable name for --env-rm (`NAME`; a `NAME=value` form is accepted and the value ignored). */
export function parseEnvName(text: string, flag = '--env-rm'): string {
  const [key] = splitPair(text);
  if (key === '' || /\s/.test(key)) throw badFlagValue(flag, text, 'want a variable name');
  return key;
}

/** Folds pairs into a record; a repeated key keeps its last value, as Docker does. */
export function pairsToRecord(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) out[k] = v;
  return out;
}

/** Folds aux-address pairs, refusing a name given twice (two addresses cannot share it). */
export function auxAddressesToRecord(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) {
    if (k in out && out[k] !== v) throw new UsageError(`auxiliary address name ${JSON.stringify(k)} given twice`, { name: k });
    out[k] = v;
  }
  return out;
}
