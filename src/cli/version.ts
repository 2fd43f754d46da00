/**
 * `shoal version`: the client's build and the manager's, as `docker version` shows them.
 * The client part is always printed; when the manager cannot be reached the command says
 * so after it and exits 1, so a script can tell "old client" from "no manager".
 */
import type { Command } from 'commander';
import type { VersionInfo } from '../api/api-types.ts';
import { localVersionInfo } from '../common/version.ts';
import type { CliContext } from './client-options.ts';
import { apiGroupOptions, processContext, runCommand } from './client-options.ts';
import { executeTemplate } from './format/template.ts';
import { parseInspectFormat } from './parse/format-option.ts';

/** What `--format` templates see: `{{.Client.Version}}`, `{{.Server.ApiVersion}}`, ... */
interface VersionView {
  Client: VersionFields;
  Server: VersionFields | null;
}
interface VersionFields {
  Version: string;
  ApiVersion: number;
  NodeVersion: string;
  Os: string;
  Arch: string;
}

function fields(v: VersionInfo): VersionFields {
  return { Version: v.version, ApiVersion: v.apiVersion, NodeVersion: v.nodeVersion, Os: v.os, Arch: v.arch };
}

function section(title: string, f: VersionFields): string {
  return [
    `${title}:`,
    ` Version:      ${f.Version}`,
    ` API version:  ${f.ApiVersion}`,
    ` Node.js:      ${f.NodeVersion}`,
    ` OS/Arch:      ${f.Os}/${f.Arch}`,
    '',
  ].join('\n');
}

export function registerVersionCommand(program: Command, ctx: CliContext = processContext()): void {
  const cmd = program
    .command('version')
    .description('Show the shoal version of this client and of the manager')
    .option('-f, --format <format>', 'format output: json or a Go template');
  apiGroupOptions(cmd);
  cmd.action(async (flags: { format?: string }, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      const format = parseInspectFormat(flags.format);
      const view: VersionView = { Client: fields(localVersionInfo()), Server: null };
      let failure: unknown;
      try {
        view.Server = fields(await api().version());
      } catch (err) {
        failure = err;
      }
      if (format.kind === 'json') ctx.out(`${JSON.stringify(view)}\n`);
      else if (format.kind === 'template') ctx.out(`${executeTemplate(format.template, view)}\n`);
      else ctx.out(section('Client', view.Client) + (view.Server ? `\n${section('Server', view.Server)}` : ''));
      // the client part is out; the manager's failure still decides the exit status
      if (failure !== undefined) throw failure;
    });
  });
}
