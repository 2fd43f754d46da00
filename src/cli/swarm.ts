/**
 * `shoal swarm ...`, as `docker swarm ...` does:
 * - `join-token [-q] [--rotate] worker|manager`: shows (and rotates) the tokens a new node
 *   presents to join, with the command to run on that node;
 * - `update --cert-expiry DURATION`: the lifetime of node certificates issued from now on
 *   (nodes pick it up at their next renewal);
 * - `ca [--rotate] ...`: prints the root CA; `--rotate` starts a root CA rotation (a new
 *   root, or the operator's) and, unless `--detach`, follows it until every node holds a
 *   certificate of the new root.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CaStatus, NodeRole } from '../api/api-types.ts';
import type { CliContext } from './client-options.ts';
import { apiGroup, finishGroup, processContext, runCommand } from './client-options.ts';
import { parseDurationMs } from './parse/duration.ts';
import { UsageError } from './parse/usage-error.ts';

/** Docker's default `--cert-expiry` (90 days). */
export const DEFAULT_CERT_EXPIRY = '2160h0m0s';
/** Docker's minimum `--cert-expiry`. */
const MIN_CERT_EXPIRY_MS = 3600_000;
/** How often a rotation's progress is asked for, ms. */
const PROGRESS_POLL_MS = 500;

/** The text `join-token` prints for a token (Docker's wording, shoal's join command). */
export function joinInstructions(role: NodeRole, token: string, managerAddr: string): string {
  return (
    `To add a ${role} to this swarm, run the following command on the new node:\n\n` +
    `    shoal agent --join-token ${token} --manager ${managerAddr} --advertise-addr <NODE-IP> --data-dir /var/lib/shoal\n\n`
  );
}

/** `--cert-expiry` in ms (Docker's duration grammar, at least 1h). */
export function parseCertExpiry(text: string): number {
  const ms = parseDurationMs(text, '--cert-expiry');
  if (ms < MIN_CERT_EXPIRY_MS) throw new UsageError(`invalid --cert-expiry ${JSON.stringify(text)}: minimum certificate expiry is 1h`);
  return ms;
}

/** One progress line of a rotation (printed when it changes). */
export function rotationProgressLine(s: CaStatus): string {
  if (!s.rotating) return `root CA rotation complete: ${s.nodesDone}/${s.nodesTotal} nodes hold a certificate of the new root\n`;
  const waiting = s.pending
    .slice(0, 5)
    .map((n) => `${n.hostname || n.nodeId.slice(0, 12)} (${n.state})`)
    .join(', ');
  const more = s.pending.length > 5 ? `, and ${s.pending.length - 5} more` : '';
  return `rotating node certificates: ${s.nodesDone}/${s.nodesTotal} nodes renewed${waiting !== '' ? `; waiting for ${waiting}${more}` : ''}\n`;
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

export function registerSwarmCommands(program: Command, ctx: CliContext = processContext()): void {
  const swarm = apiGroup(program, 'swarm', 'Manage the cluster');

  swarm
    .command('join-token')
    .description('Manage join tokens')
    .argument('<role>', '"worker" or "manager"')
    .option('-q, --quiet', 'only display the token')
    .option('--rotate', 'rotate the join token (the old one stops working)')
    .action(async (role: string, flags: { quiet?: boolean; rotate?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        if (role !== 'worker' && role !== 'manager') throw new UsageError(`unknown role ${role}: want worker or manager`);
        const t = await api().joinToken(role, flags.rotate === true);
        if (flags.rotate && !flags.quiet) ctx.out(`Successfully rotated ${role} join token.\n\n`);
        if (flags.quiet) ctx.out(`${t.token}\n`);
        else ctx.out(joinInstructions(role, t.token, t.managerAddr));
      });
    });

  swarm
    .command('update')
    .description('Update the swarm')
    .option(
      '--cert-expiry <duration>',
      `validity period for node certificates (ns|us|ms|s|m|h), at least 1h (default ${DEFAULT_CERT_EXPIRY})`,
    )
    .action(async (flags: { certExpiry?: string }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        if (flags.certExpiry === undefined) throw new UsageError('swarm update needs a setting to change (--cert-expiry)');
        const certExpiryMs = parseCertExpiry(flags.certExpiry);
        await api().updateSwarm({ certExpiryMs });
        ctx.out('Swarm updated.\n');
      });
    });

  swarm
    .command('ca')
    .description('Display and rotate the root CA')
    .option('--rotate', 'rotate the swarm CA: every node gets a certificate of a new root, then the old root is no longer trusted')
    .option('--ca-cert <file>', 'with --rotate: the new root CA certificate (PEM) to use instead of a generated one')
    .option('--ca-key <file>', 'with --rotate: the private key (PEM) of --ca-cert')
    .option(
      '--cert-expiry <duration>',
      `validity period for node certificates (ns|us|ms|s|m|h), at least 1h (default ${DEFAULT_CERT_EXPIRY})`,
    )
    .option('-d, --detach', 'with --rotate: exit once the rotation started instead of following it')
    .option('-q, --quiet', 'suppress progress output')
    .action(
      async (
        flags: { rotate?: boolean; caCert?: string; caKey?: string; certExpiry?: string; detach?: boolean; quiet?: boolean },
        cmd: Command,
      ) => {
        await runCommand(ctx, cmd, async (api) => {
          if (!flags.rotate && (flags.caCert !== undefined || flags.caKey !== undefined || flags.detach)) {
            throw new UsageError('--ca-cert, --ca-key and --detach are only valid with --rotate');
          }
          if ((flags.caCert === undefined) !== (flags.caKey === undefined)) {
            throw new UsageError('--ca-cert and --ca-key go together: give both, or neither for a generated root');
          }
          const certExpiryMs = flags.certExpiry !== undefined ? parseCertExpiry(flags.certExpiry) : undefined;
          const caCertPem = flags.caCert !== undefined ? readPem(flags.caCert, '--ca-cert') : undefined;
          const caKeyPem = flags.caKey !== undefined ? readPem(flags.caKey, '--ca-key') : undefined;
          const client = api();
          if (certExpiryMs !== undefined) await client.updateSwarm({ certExpiryMs });
          if (!flags.rotate) {
            ctx.out((await client.caStatus()).rootCaPem);
            return;
          }
          let status = await client.rotateCa({ ...(caCertPem ? { caCertPem } : {}), ...(caKeyPem ? { caKeyPem } : {}) });
          if (flags.detach) {
            if (!flags.quiet) ctx.out('Root CA rotation started; `shoal swarm ca` prints the root, `shoal node ls` the nodes.\n');
            return;
          }
          let last = '';
          for (;;) {
            const line = rotationProgressLine(status);
            if (!flags.quiet && line !== last) ctx.out(line);
            last = line;
            if (!status.rotating) break;
            await new Promise((resolve) => setTimeout(resolve, PROGRESS_POLL_MS));
            status = await client.caStatus();
          }
          ctx.out(status.rootCaPem);
        });
      },
    );

  finishGroup(swarm);
}
