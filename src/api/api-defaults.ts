/**
 * Complete specs with Docker's defaults, for callers that fill in only what the user gave
 * (`{ ...defaultServiceSpec('web'), ... }`). The manager applies the same defaults to
 * empty fields, so a spec built here and one with empty fields mean the same thing.
 */
import type { ContainerSpec, NetworkSpec, NodeSpec, RestartPolicy, ServiceSpec, TaskTemplate, UpdateConfig } from './api-types.ts';

/** A new task is watched this long after it starts (Docker's --update-monitor default), ms. */
export const DEFAULT_UPDATE_MONITOR_MS = 5000;

/**
 * Docker's defaults for --update-* and --rollback-* alike: one task at a time, no delay,
 * pause on a failure, stop the old task first, watch new tasks 5 s, tolerate no failure.
 */
export function defaultUpdateConfig(): UpdateConfig {
  return {
    parallelism: 1,
    delayMs: 0,
    failureAction: 'pause',
    monitorMs: DEFAULT_UPDATE_MONITOR_MS,
    maxFailureRatio: 0,
    order: 'stop-first',
  };
}

/** Docker's defaults: restart on any exit after 5 s, unlimited attempts. */
export function defaultRestartPolicy(): RestartPolicy {
  return { condition: 'any', delayMs: 5000, maxAttempts: 0 };
}

export function defaultTaskTemplate(): TaskTemplate {
  return {
    command: [],
    args: [],
    env: [],
    hostname: '',
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    restartPolicy: defaultRestartPolicy(),
    stopGracePeriodMs: 10_000,
    labels: {},
  };
}

export function defaultNetworkSpec(name: string): NetworkSpec {
  return { name, driver: 'overlay', subnets: [], attachable: false, internal: false, ipv6: false, labels: {}, options: {}, ingress: false };
}

export function defaultServiceSpec(name: string): ServiceSpec {
  return {
    name,
    labels: {},
    mode: { replicated: { replicas: 1 } },
    taskTemplate: defaultTaskTemplate(),
    networks: [],
    endpointSpec: { mode: 'vip', ports: [] },
    updateConfig: defaultUpdateConfig(),
    rollbackConfig: defaultUpdateConfig(),
  };
}

export function defaultContainerSpec(name: string): ContainerSpec {
  return { name, networks: [], node: '', command: [], hostname: '', env: [], labels: {}, dns: [], dnsSearch: [], dnsOptions: [] };
}

export function defaultNodeSpec(): NodeSpec {
  return { name: '', labels: {}, role: 'worker', availability: 'active' };
}

/** The gossip port of an agent that names none (memberlist's and Docker's 7946, UDP and TCP). */
export const DEFAULT_GOSSIP_PORT = 7946;

/** An exec's time limit when the request gives none, ms. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

/** The longest time limit an exec may ask for, ms (its output travels in one answer). */
export const MAX_EXEC_TIMEOUT_MS = 3_600_000;
