/**
 * shoal's version, written once: `shoal --version` prints it, agents send it in their
 * session request, the manager reports it for its own node.
 *
 * A constant rather than a read of package.json, so that no command pays a file read and a
 * JSON parse at start-up; test/unit/cli/version.test.ts checks that it equals package.json's
 * "version", so a release that bumps one and not the other fails the tests.
 */
export const SHOAL_VERSION = '0.1.0';
