/**
 * The API's wire layer: loads the descriptor of proto/api.proto with protobufjs and turns its
 * services into method tables and grpc-js service definitions with encoders that speak the
 * plain objects of api-types.ts (camelCase fields, numbers for 64-bit integers, every
 * repeated field and map present, unset messages and proto3 `optional` scalars absent).
 *
 * Where the descriptor comes from: the compiled build ships it pre-parsed beside this
 * module (`api.proto.json`, written by scripts/build.mjs from the same .proto), which
 * protobufjs/light reads without its .proto parser; run from src/ (tests, tsx) there is no
 * such file and proto/api.proto is parsed at run time, so the sources never read a stale
 * copy. Both give the same descriptor (test/unit/manager/proto-descriptor.test.ts). A cold
 * `shoal` command pays for this once per process: building the root from the JSON took
 * about 12 ms where parsing the .proto took about 30, and protobufjs/light loads some 4 ms
 * faster than the full build, whose parser is therefore required only when it is needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs/light.js';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { ShoalError } from '../common/errors.ts';
import { packageRoot } from '../common/paths.ts';
import { apiError } from './errors.ts';

export const API_PACKAGE = 'shoal.api.v1';

/** The name of the pre-parsed descriptor the build writes beside the compiled module. */
export const API_DESCRIPTOR_FILE = 'api.proto.json';

/** proto/api.proto under the package root (the same from src/ and from a compiled output folder). */
export function apiProtoPath(): string {
  return join(packageRoot(), 'proto', 'api.proto');
}

/**
 * Where this module looks for the pre-parsed descriptor: beside itself, so that only a
 * compiled copy (dist/api/proto.js -> dist/api/api.proto.json) finds one.
 */
export function apiDescriptorPath(): string {
  return fileURLToPath(new URL(API_DESCRIPTOR_FILE, import.meta.url));
}

/** Parses a .proto file (default proto/api.proto) with protobufjs's full build, loaded on first use. */
export function parseApiProto(path: string = apiProtoPath()): protobuf.Root {
  // the full build adds the parser to the same protobufjs object protobufjs/light returns
  const full = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
  const parsed = full.loadSync(path);
  parsed.resolveAll();
  return parsed;
}

/** Reads a descriptor written from `Root.toJSON()` (what the build ships). */
export function loadApiDescriptor(path: string): protobuf.Root {
  let json: protobuf.INamespace;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as protobuf.INamespace;
  } catch (err) {
    throw new ShoalError('SHOAL_ERR_INTERNAL', `cannot read the API descriptor ${path}: ${(err as Error).message}`, {
      details: { path },
      cause: err,
    });
  }
  const loaded = protobuf.Root.fromJSON(json);
  loaded.resolveAll();
  return loaded;
}

let root: protobuf.Root | undefined;

/** The API's descriptor (cached): the shipped JSON when there is one, else the parsed .proto. */
export function apiRoot(): protobuf.Root {
  if (!root) {
    const descriptor = apiDescriptorPath();
    root = existsSync(descriptor) ? loadApiDescriptor(descriptor) : parseApiProto();
  }
  return root;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true, objects: true, oneofs: false };

export interface MessageCodec<T> {
  /** Encodes any plain object, converting loosely typed fields (protobufjs fromObject). */
  encode(value: T): Buffer;
  /**
   * Encodes an object already shaped as api-types.ts says (numbers, strings, Buffers, plain
   * maps), skipping the conversion copy: used for the manager's responses, which can be
   * large (10k networks). Same bytes as `encode` for such objects.
   */
  encodeTrusted(value: T): Buffer;
  decode(bytes: Buffer): T;
}

const codecs = new Map<string, MessageCodec<unknown>>();

/** Encoder and decoder of one message type, e.g. `codecFor('Network')`. */
export function codecFor<T>(typeName: string): MessageCodec<T> {
  const cached = codecs.get(typeName);
  if (cached) return cached as MessageCodec<T>;
  const type = apiRoot().lookupType(`${API_PACKAGE}.${typeName}`);
  const codec: MessageCodec<T> = {
    encode(value: T): Buffer {
      const message = type.fromObject((value ?? {}) as Record<string, unknown>);
      return Buffer.from(type.encode(message).finish());
    },
    encodeTrusted(value: T): Buffer {
      return Buffer.from(type.encode((value ?? {}) as Record<string, unknown>).finish());
    },
    decode(bytes: Buffer): T {
      return stripNulls(type.toObject(type.decode(bytes), TO_OBJECT)) as T;
    },
  };
  codecs.set(typeName, codec as MessageCodec<unknown>);
  return codec;
}

/** protobufjs renders unset sub-messages as null with `defaults`; the API omits them. */
function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = stripNulls(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const v = obj[key];
      if (v === null || v === undefined) delete obj[key];
      else if (typeof v === 'object') obj[key] = stripNulls(v);
    }
  }
  return value;
}

export interface MethodInfo {
  /** e.g. "Networks" */
  service: string;
  /** e.g. "Create" */
  name: string;
  /** e.g. "/shoal.api.v1.Networks/Create" */
  path: string;
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** Every method of one service of api.proto. */
export function methodsOf(serviceName: string): MethodInfo[] {
  const svc = apiRoot().lookupService(`${API_PACKAGE}.${serviceName}`);
  return svc.methodsArray.map((m) => ({
    service: serviceName,
    name: m.name,
    path: `/${API_PACKAGE}.${serviceName}/${m.name}`,
    requestType: shortTypeName(m.resolvedRequestType?.fullName ?? m.requestType),
    responseType: shortTypeName(m.resolvedResponseType?.fullName ?? m.responseType),
    requestStream: m.requestStream === true,
    responseStream: m.responseStream === true,
  }));
}

const methodCache = new Map<string, MethodInfo>();

/** One method of api.proto by service and name (cached); SHOAL_ERR_BAD_SPEC when there is none. */
export function methodInfo(service: string, name: string): MethodInfo {
  const key = `${service}/${name}`;
  let m = methodCache.get(key);
  if (!m) {
    m = methodsOf(service).find((x) => x.name === name);
    if (!m) throw apiError('SHOAL_ERR_BAD_SPEC', `no method ${key} in api.proto`);
    methodCache.set(key, m);
  }
  return m;
}

function shortTypeName(name: string): string {
  const prefix = `.${API_PACKAGE}.`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

const UNDECODABLE = Symbol('undecodable request');

/**
 * The error of a unary request whose bytes did not decode, or undefined for a decoded one.
 * grpc-js answers a deserializer that throws with a bare INTERNAL status, so a unary
 * method's deserializer returns this marker instead and the server answers it with
 * SHOAL_ERR_INVALID_ARGUMENT.
 */
export function undecodableRequest(request: unknown): ShoalError | undefined {
  return typeof request === 'object' && request !== null ? (request as { [UNDECODABLE]?: ShoalError })[UNDECODABLE] : undefined;
}

/** A grpc-js service definition for one service of api.proto. */
export function serviceDefinition(serviceName: string): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of methodsOf(serviceName)) {
    const req = codecFor<unknown>(m.requestType);
    const res = codecFor<unknown>(m.responseType);
    const unary = !m.requestStream && !m.responseStream;
    def[m.name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (v: unknown) => req.encode(v),
      requestDeserialize: (b: Buffer) => {
        if (!unary) return req.decode(b);
        try {
          return req.decode(b);
        } catch (err) {
          const why = `the request does not decode as ${m.requestType}: ${(err as Error).message}`;
          return { [UNDECODABLE]: new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', why, { details: { method: m.path } }) };
        }
      },
      // responses are built by the manager itself: already in api-types shape
      responseSerialize: (v: unknown) => res.encodeTrusted(v),
      responseDeserialize: (b: Buffer) => res.decode(b),
    };
  }
  return def as ServiceDefinition;
}

/** The names of the services in api.proto. */
export const API_SERVICES = ['Networks', 'Services', 'Containers', 'Runtime', 'Nodes', 'SwarmControl', 'Ca', 'Dispatcher'] as const;
export type ApiServiceName = (typeof API_SERVICES)[number];
