/**
 * Loader and typed surface of native/ (the N-API addon). The addon is built by node-gyp
 * at install (`npm ci` runs `node-gyp rebuild --directory native`); no prebuilt binary is
 * downloaded. A missing or broken build is SHOAL_ERR_NATIVE_UNAVAILABLE with the fix.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { COMMON_ERRORS, ShoalError } from '../common/errors.ts';

export interface NativeAddon {
  openSocket(nsPath: string | null, domain: number, type: number, protocol: number, address: string | null, port: number): number;
  runInNetns<T>(nsPath: string | null, fn: () => T): T;
  createNetns(name: string): boolean;
  deleteNetns(name: string): boolean;
  netnsInode(nsPath: string | null): number;
  /** Batched UDP (native/src/datagram.c; used through kernel/datagram.ts). */
  datagramOpen(fd: number, onReadable: (status: number) => void): unknown;
  datagramRecv(handle: unknown, buf: Uint8Array, slotSize: number, meta: Int32Array): number;
  datagramSend(handle: unknown, buf: Uint8Array, meta: Int32Array, count: number): number;
  datagramLocalPort(handle: unknown): number;
  datagramClose(handle: unknown): void;
  /** One netlink request (NLM_F_ACK) on a pool thread: the errno name of the refusal, or '' (native/src/netlink-ack.c). */
  netlinkAck(fd: number, request: Buffer): Promise<string>;
  /** One NLM_F_DUMP request on a pool thread: its messages back to back, and the errno name it ended with, or ''. */
  netlinkDump(fd: number, request: Buffer, timeoutMs: number): Promise<{ errno: string; messages: Buffer }>;
  constants: { AF_INET: number; AF_INET6: number; AF_NETLINK: number; SOCK_DGRAM: number; SOCK_STREAM: number; SOCK_RAW: number };
}

const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native/build/Release/shoal_native.node');

let cached: NativeAddon | undefined;

export function native(): NativeAddon {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (err) {
    throw new ShoalError(
      'SHOAL_ERR_NATIVE_UNAVAILABLE',
      `shoal's native addon is not built (${ADDON_PATH}); run \`npm run build:native\` (needs python3, make, g++ and Node headers)`,
      { cause: err },
    );
  }
  return cached;
}

/** Converts an error thrown by the addon (code + errno properties) into a ShoalError. */
export function nativeError(err: unknown, fallback: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof e.code === 'string' && COMMON_ERRORS.has(e.code) ? e.code : 'SHOAL_ERR_NATIVE';
  const errno = typeof e.errno === 'string' ? e.errno : undefined;
  return new ShoalError(code, typeof e.message === 'string' ? e.message : fallback, { cause: err, ...(errno ? { errno } : {}) });
}

/** Runs native calls, mapping thrown addon errors to ShoalErrors. */
export function callNative<T>(what: string, fn: (addon: NativeAddon) => T): T {
  const addon = native();
  try {
    return fn(addon);
  } catch (err) {
    throw nativeError(err, what);
  }
}
