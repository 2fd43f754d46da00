/**
 * Overlay models for the unit tests: one network `front` (10.0.0.0/24, VNI 4097) with a
 * local sandbox, an internal network `back` (10.0.1.0/24, VNI 4098), the default egress
 * pool, and helpers to vary them. Underlay addresses are RFC 5737 (192.0.2.0/24).
 */
import type { OverlayModel, RemoteEndpoint, SandboxModel } from '../../../src/overlay/model.ts';
import { macForAddress } from '../../../src/common/mac.ts';

export const PREFIX = 'shoal-h2-';
export const FRONT = 'f0f0f0f0f0f0f0f0f0f0f0f0';
export const BACK = 'b0b0b0b0b0b0b0b0b0b0b0b0';
export const FRONT_NS = `${PREFIX}ov-f0f0f0f0f0f0`;
export const BACK_NS = `${PREFIX}ov-b0b0b0b0b0b0`;

export function sandbox(id: string, attachments: Array<[network: string, address: string]>, egress?: string): SandboxModel {
  const s: SandboxModel = {
    id,
    attachments: attachments.map(([networkId, address]) => ({ networkId, address, mac: macForAddress(address.split('/')[0]!) })),
  };
  if (egress !== undefined) s.egress = egress;
  return s;
}

/** Remote endpoint `10.0.0.<host>` on `front` behind VTEP 192.0.2.<vtep>. */
export function remote(host: number, vtep = 11, networkId = FRONT): RemoteEndpoint {
  const prefix = networkId === BACK ? '10.0.1' : '10.0.0';
  const ip = `${prefix}.${host}`;
  return { networkId, ip, mac: macForAddress(ip), vtep: `192.0.2.${vtep}` };
}

/** Remotes 10.0.0.100 .. 10.0.0.(100+n-1), spread over VTEPs .11 and .13. */
export function remotes(n: number): RemoteEndpoint[] {
  return Array.from({ length: n }, (_, i) => remote(100 + i, i % 2 === 0 ? 11 : 13));
}

export function baseModel(overrides: Partial<OverlayModel> = {}): OverlayModel {
  return {
    prefix: PREFIX,
    vtep: '192.0.2.12',
    underlayMtu: 1500,
    dataPort: 4789,
    networks: [
      { id: FRONT, vni: 4097, subnet: '10.0.0.0/24', gateway: '10.0.0.1', internal: false },
      { id: BACK, vni: 4098, subnet: '10.0.1.0/24', gateway: '10.0.1.1', internal: true },
    ],
    sandboxes: [
      sandbox('a1a1a1a1a1a1a1a1', [[FRONT, '10.0.0.3/24']], '172.18.0.2/16'),
      sandbox('c2c2c2c2c2c2c2c2', [[BACK, '10.0.1.3/24']]),
    ],
    remotes: [remote(5), remote(6, 13)],
    egress: { subnet: '172.18.0.0/16', gateway: '172.18.0.1' },
    ...overrides,
  };
}
