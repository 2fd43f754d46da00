/**
 * shoal's version, written once: `shoal --version` and `shoal version` print it, agents
 * send it in their session request, the manager reports it for its own node.
 *
 * A constant rather than a read of package.json, so that no command pays a file read and a
 * JSON parse at start-up; test/unit/cli/package-files.test.ts checks that it equals package.json's
 * "version", so a release that bumps one and not the other fails the tests.
 */
export const SHOAL_VERSION = '0.1.0';

/** The revision of the gRPC API this build speaks (proto/api.proto); raised on a change old clients cannot follow. */
export const API_VERSION = 1;

/** This process's build, as `shoal version` shows it for the client and the manager. */
export function localVersionInfo(): { version: string; apiVersion: number; nodeVersion: string; os: string; arch: string } {
  return { version: SHOAL_VERSION, apiVersion: API_VERSION, nodeVersion: process.version, os: process.platform, arch: process.arch };
}
