/**
 * `shoal swarm join-token [-q] [--rotate] worker|manager`: shows (and rotates) the tokens a
 * new node presents to join, with the command to run on that node, as
 * `docker swarm join-token` does.
 */
import type { Command } from 'commander';
import type { NodeRole } from '../api/api-types.ts';
import type { CliContext } from './client-options.ts';
import { apiGroup, finishGroup, processContext, runCommand } from './client-options.ts';
import { UsageError } from './parse/usage-error.ts';

/** The text `join-token` prints for a token (Docker's wording, shoal's join command). */
export function joinInstructions(role: NodeRole, token: string, managerAddr: string): string {
  return (
    `To add a ${role} to this swarm, run the following command on the new node:\n\n` +
    `    shoal agent --join-token ${token} --manager ${managerAddr} --advertise-addr <NODE-IP> --data-dir /var/lib/shoal\n\n`
  );
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

  finishGroup(swarm);
}
