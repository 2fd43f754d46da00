/**
 * The API's wire layer: loads proto/api.proto at run time with protobufjs and turns its
 * services into grpc-js service definitions with encoders that speak the plain objects of
 * api-types.ts (camelCase fields, numbers for 64-bit integers, every repeated field and
 * map present, unset messages and proto3 `optional` scalars absent).
 *
 * Loading the .proto at run time (instead of generated code) keeps one source of truth;
 * the parse costs about 10 ms once per process.
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { packageRoot } from '../common/paths.ts';

export const API_PACKAGE = 'shoal.api.v1';

/** proto/api.proto under the package root (the same from src/ and from a compiled output folder). */
export function apiProtoPath(): string {
  return join(packageRoot(), 'proto', 'api.proto');
}

let root: protobuf.Root | undefined;

/** The parsed api.proto (cached). */
export function apiRoot(): protobuf.Root {
  if (!root) {
    root = protobuf.loadSync(apiProtoPath());
    root.resolveAll();
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

function shortTypeName(name: string): string {
  const prefix = `.${API_PACKAGE}.`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** A grpc-js service definition for one service of api.proto. */
export function serviceDefinition(serviceName: string): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of methodsOf(serviceName)) {
    const req = codecFor<unknown>(m.requestType);
    const res = codecFor<unknown>(m.responseType);
    def[m.name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (v: unknown) => req.encode(v),
      requestDeserialize: (b: Buffer) => req.decode(b),
      // responses are built by the manager itself: already in api-types shape
      responseSerialize: (v: unknown) => res.encodeTrusted(v),
      responseDeserialize: (b: Buffer) => res.decode(b),
    };
  }
  return def as ServiceDefinition;
}

/** The names of the services in api.proto. */
export const API_SERVICES = ['Networks', 'Services', 'Containers', 'Nodes', 'SwarmControl', 'Ca', 'Dispatcher'] as const;
export type ApiServiceName = (typeof API_SERVICES)[number];
