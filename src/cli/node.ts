/**
 * `shoal node ls|inspect|ps|update|promote|demote|rm`: the cluster's nodes, with Docker's
 * flags and messages. `self` names the manager's own node wherever a node is expected.
 * `node ls` marks that node with `*` after its ID.
 *
 * `node ps` without a NODE lists the tasks of the node this command runs on, as Docker's
 * default `self` does: the agent on DATA-DIR/agent.sock says which node that is. Without
 * an agent there the command asks for a NODE instead of guessing.
 */
import type { Command } from 'commander';
import type { Node, NodeRole } from '../api/api-types.ts';
import type { ApiHandle, CliContext } from './client-options.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  apiGroup,
  clientFlags,
  collect,
  errorLine,
  finishGroup,
  processContext,
  runCommand,
} from './client-options.ts';
import { renderList, renderQuiet } from './format/list.ts';
import { NODE_LIST, nodeInspect, nodeName, nodeRow } from './format/node.ts';
import { NODE_TASK_LIST } from './format/service.ts';
import type { LocalAgentProbe } from './local-agent.ts';
import { probeLocalAgent } from './local-agent.ts';
import type { TaskPsFlags } from './task-ps.ts';
import { addTaskPsOptions, parseTaskPs, printTaskPs, taskPsRows } from './task-ps.ts';
import { prettyPrint } from './format/common.ts';
import { matchesLabelFilters, parseFilters } from './parse/filter.ts';
import { parseInspectFormat, parseListFormat } from './parse/format-option.ts';
import { parseLabel } from './parse/key-value.ts';
import { UsageError } from './parse/usage-error.ts';
import { naturalCompare, printInspect } from './network.ts';

const NODE_FILTERS = ['id', 'label', 'node.label', 'name', 'role', 'membership'] as const;
/** `node ps` filters, as Docker's. */
export const NODE_TASK_FILTERS = ['desired-state', 'id', 'label', 'name'] as const;

/** The nodes `node ps` lists: those named, else this machine's (its agent says which), else a usage error. */
export async function nodePsTargets(refs: readonly string[], probe: () => ReturnType<LocalAgentProbe>): Promise<string[]> {
  if (refs.length > 0) return [...refs];
  const local = await probe();
  if (local.info && local.info.nodeId !== '') return [local.info.nodeId];
  throw new UsageError(
    `node ps needs a NODE: this machine's node is unknown (no agent answered on ${local.socket}: ${local.why}); name a node, or "self" for the manager's`,
  );
}

function prettyNode(n: Node): string {
  const lines: string[] = [];
  const add = (label: string, value: string): void => void lines.push(`${label.padEnd(20)} ${value}`);
  add('ID:', n.id);
  if (n.spec.name) add('Name:', n.spec.name);
  const labels = Object.keys(n.spec.labels).sort();
  if (labels.length > 0) {
    lines.push('Labels:');
    for (const k of labels) lines.push(` - ${k}=${n.spec.labels[k]}`);
  }
  add('Hostname:', n.description.hostname);
  add('Joined at:', n.createdAt);
  lines.push('Status:');
  add(' State:', prettyPrint(n.status.state));
  add(' Availability:', prettyPrint(n.spec.availability));
  add(' Address:', n.status.addr);
  if (n.managerStatus) {
    lines.push('Manager Status:');
    add(' Address:', n.managerStatus.addr);
    add(' Raft Status:', prettyPrint(n.managerStatus.reachability));
    add(' Leader:', n.managerStatus.leader ? 'Yes' : 'No');
  }
  lines.push('Platform:');
  add(' Operating System:', n.description.platformOs);
  add(' Architecture:', n.description.platformArch);
  add('Engine Version:', n.description.version);
  add('TLS Info:', n.certFingerprint);
  return `${lines.join('\n')}\n`;
}

async function selfId(api: ApiHandle): Promise<string | undefined> {
  try {
    return (await api.inspectNode('self')).id;
  } catch {
    return undefined;
  }
}

async function changeRole(ctx: CliContext, api: ApiHandle, refs: readonly string[], role: NodeRole): Promise<number> {
  let failed = 0;
  for (const ref of refs) {
    try {
      const n = await api.inspectNode(ref);
      if (n.spec.role === role) {
        ctx.out(`Node ${ref} is already a ${role}.\n`);
        continue;
      }
      await api.updateNode(n.id, { ...n.spec, role }, n.version);
      ctx.out(role === 'manager' ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`);
    } catch (err) {
      failed++;
      ctx.err(`${errorLine(err)}\n`);
    }
  }
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}

export function registerNodeCommands(program: Command, ctx: CliContext = processContext(), probe: LocalAgentProbe = probeLocalAgent): void {
  const node = apiGroup(program, 'node', 'Manage cluster nodes');

  node
    .command('ls')
    .alias('list')
    .description('List nodes in the cluster')
    .option('-f, --filter <filter>', 'filter output (id, label, node.label, name, role, membership; repeatable)', collect)
    .option('--format <format>', 'format output: table, table TEMPLATE, json or a Go template')
    .option('-q, --quiet', 'only display IDs')
    .action(async (flags: { filter?: string[]; format?: string; quiet?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseListFormat(flags.format);
        const filters = parseFilters(flags.filter ?? [], NODE_FILTERS);
        const roles = filters.get('role') ?? [];
        for (const r of roles)
          if (r !== 'worker' && r !== 'manager') throw new UsageError(`invalid filter 'role=${r}': want worker or manager`);
        const membership = filters.get('membership') ?? [];
        for (const m of membership)
          if (m !== 'accepted' && m !== 'pending') throw new UsageError(`invalid filter 'membership=${m}': want accepted or pending`);
        const nodes = (
          await api().listNodes({
            ...(filters.get('id') ? { ids: [...(filters.get('id') ?? [])] } : {}),
            ...(filters.get('name') ? { names: [...(filters.get('name') ?? [])] } : {}),
          })
        )
          .filter((n) => roles.length === 0 || roles.includes(n.spec.role))
          .filter(() => membership.length === 0 || membership.includes('accepted')) // a node is accepted once it joined
          .filter((n) => matchesLabelFilters(n.spec.labels, filters.get('node.label')))
          .filter((n) => matchesLabelFilters(n.spec.labels, filters.get('label')))
          .sort((a, b) => naturalCompare(nodeName(a), nodeName(b)) || (a.id < b.id ? -1 : 1));
        if (flags.quiet) {
          ctx.out(renderQuiet(nodes.map((n) => n.id)));
          return;
        }
        const self = await selfId(api());
        ctx.out(
          renderList(
            nodes.map((n) => nodeRow(n, self)),
            NODE_LIST,
            format,
          ),
        );
      });
    });

  node
    .command('inspect')
    .description('Display detailed information on one or more nodes ("self" is the manager\'s node)')
    .argument('<node...>', 'node names, IDs or "self"')
    .option('-f, --format <format>', 'format output: json or a Go template')
    .option('--pretty', 'print the information in a human friendly format')
    .action(async (refs: string[], flags: { format?: string; pretty?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseInspectFormat(flags.format);
        if (flags.pretty && format.kind !== 'default') throw new UsageError('--format is incompatible with human friendly format');
        const found: Node[] = [];
        const errors: string[] = [];
        for (const ref of refs) {
          try {
            found.push(await api().inspectNode(ref));
          } catch (err) {
            errors.push(errorLine(err));
          }
        }
        if (flags.pretty) ctx.out(found.map(prettyNode).join('\n'));
        else printInspect(ctx, found.map(nodeInspect), format);
        for (const e of errors) ctx.err(`${e}\n`);
        return errors.length > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  addTaskPsOptions(
    node
      .command('ps')
      .description('List tasks running on one or more nodes (default: the node this command runs on)')
      .argument('[node...]', 'node names, IDs or "self" (the manager\'s node); default: the node whose agent runs on this machine'),
    NODE_TASK_FILTERS,
  ).action(async (refs: string[], flags: TaskPsFlags, cmd: Command) => {
    await runCommand(ctx, cmd, async (api) => {
      const { format, filters } = parseTaskPs(flags, NODE_TASK_FILTERS);
      const targets = await nodePsTargets(refs, () => probe(clientFlags(cmd).dataDir, ctx.env));
      const errors: string[] = [];
      const nodeIds: string[] = [];
      for (const ref of targets) {
        try {
          const id = (await api().inspectNode(ref)).id;
          if (!nodeIds.includes(id)) nodeIds.push(id);
        } catch (err) {
          errors.push(errorLine(err));
        }
      }
      const rows = nodeIds.length > 0 ? await taskPsRows(api(), { nodes: nodeIds }, filters, flags, ctx.now()) : [];
      return printTaskPs(ctx, { rows, errors, quiet: flags.quiet === true, layout: NODE_TASK_LIST, format });
    });
  });

  node
    .command('update')
    .description('Update a node: availability, role, labels')
    .argument('<node>', 'node name, ID or "self"')
    .option('--availability <availability>', 'availability of the node ("active", "pause", "drain")')
    .option('--role <role>', 'role of the node ("worker", "manager")')
    .option('--label-add <key=value>', 'add or update a node label (repeatable)', collect)
    .option('--label-rm <key>', 'remove a node label (repeatable)', collect)
    .action(async (ref: string, flags: { availability?: string; role?: string; labelAdd?: string[]; labelRm?: string[] }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const labelAdd = (flags.labelAdd ?? []).map((l) => parseLabel(l, '--label-add'));
        const n = await api().inspectNode(ref);
        const spec = { ...n.spec, labels: { ...n.spec.labels } };
        if (flags.availability !== undefined) spec.availability = flags.availability.toLowerCase();
        if (flags.role !== undefined) spec.role = flags.role.toLowerCase();
        for (const k of flags.labelRm ?? []) {
          if (!(k in spec.labels)) throw new UsageError(`key ${k} doesn't exist in node's labels`);
          delete spec.labels[k];
        }
        for (const [k, v] of labelAdd) spec.labels[k] = v;
        await api().updateNode(n.id, spec, n.version);
        ctx.out(`${ref}\n`);
      });
    });

  node
    .command('promote')
    .description('Promote one or more nodes to manager')
    .argument('<node...>', 'node names or IDs')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => changeRole(ctx, api(), refs, 'manager'));
    });

  node
    .command('demote')
    .description('Demote one or more nodes from manager to worker')
    .argument('<node...>', 'node names or IDs')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => changeRole(ctx, api(), refs, 'worker'));
    });

  node
    .command('rm')
    .alias('remove')
    .description('Remove one or more nodes from the cluster')
    .argument('<node...>', 'node names or IDs')
    .option('-f, --force', 'force-remove a node that is still up')
    .action(async (refs: string[], flags: { force?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        let failed = 0;
        for (const ref of refs) {
          try {
            await api().removeNode(ref, flags.force === true);
            ctx.out(`${ref}\n`);
          } catch (err) {
            failed++;
            ctx.err(`${errorLine(err)}\n`);
          }
        }
        return failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  finishGroup(node);
}
